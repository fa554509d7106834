//! The generator step of build.rs: broken specs are explained (file + problem), never a bare
//! progenitor panic, and the in-memory adaptations leave the spec files valid for other tools.

use esp_imports_codegen as codegen;

use std::path::{Path, PathBuf};

use progenitor::GenerationSettings;

/// A minimal valid document; `{paths}` is replaced by each case.
const SKELETON: &str = r#"openapi: 3.0.3
info:
  title: broken
  version: 1.0.0
paths:
{paths}
components:
  schemas:
    Thing:
      type: object
      properties:
        id:
          type: integer
          format: int32
"#;

fn write_spec(dir: &Path, name: &str, paths: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, SKELETON.replace("{paths}", paths)).unwrap();
    file
}

fn generate_err(file: &Path) -> String {
    match codegen::generate(file, &GenerationSettings::default()) {
        Ok(_) => panic!("{} should not generate", file.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_operation_id_names_file_and_operation() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(
        dir.path(),
        "no-operation-id.yaml",
        r#"  /things:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Thing'"#,
    );
    let message = generate_err(&file);
    assert!(
        message.starts_with(&file.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("GET /things has no operationId"),
        "{message}"
    );
}

#[test]
fn progenitor_panic_becomes_an_explained_error() {
    // application/json without a schema: progenitor 0.15.1 hits a `todo!`.
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(
        dir.path(),
        "json-without-schema.yaml",
        r#"  /things:
    get:
      operationId: listThings
      responses:
        '200':
          description: ok
          content:
            application/json: {}"#,
    );
    let message = generate_err(&file);
    assert!(
        message.starts_with(&file.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("progenitor cannot generate this spec"),
        "{message}"
    );
    assert!(
        message.contains("media type encoding, no schema"),
        "{message}"
    );
}

#[test]
fn unsupported_construct_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(
        dir.path(),
        "cookie.yaml",
        r#"  /things:
    get:
      operationId: listThings
      parameters:
        - name: session
          in: cookie
          schema:
            type: string
      responses:
        '204':
          description: ok"#,
    );
    let message = generate_err(&file);
    assert!(message.contains("cookie.yaml"), "{message}");
    assert!(
        message.contains("cookie parameters are not supported"),
        "{message}"
    );
}

#[test]
fn openapi_31_and_default_responses_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v31.yaml");
    std::fs::write(
        &file,
        SKELETON
            .replace("3.0.3", "3.1.0")
            .replace("{paths}", "  {}"),
    )
    .unwrap();
    assert!(generate_err(&file).contains("OpenAPI 3.0.x only"));

    let file = write_spec(
        dir.path(),
        "default.yaml",
        r#"  /things:
    get:
      operationId: listThings
      responses:
        default:
          description: anything"#,
    );
    assert!(generate_err(&file).contains("declares a `default` response"));
}

#[test]
fn yaml_errors_carry_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "openapi: 3.0.3\ninfo: [\n").unwrap();
    let message = generate_err(&file);
    assert!(
        message.contains("bad.yaml: not an OpenAPI 3.0 document"),
        "{message}"
    );
    assert!(message.contains("line"), "{message}");
}

#[test]
fn mixed_bodies_and_responses_are_adapted_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(
        dir.path(),
        "mixed.yaml",
        r#"  /things/{id}/data:
    post:
      operationId: stageThings
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: integer
            format: int32
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: array
              items:
                $ref: '#/components/schemas/Thing'
          text/csv:
            schema:
              type: string
      responses:
        '201':
          description: created
          content:
            application/vnd.example+json:
              schema:
                $ref: '#/components/schemas/Thing'
        '204':
          description: staged
        '400':
          description: bad
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Thing'
        '409':
          description: conflict, empty body"#,
    );
    let generated = codegen::generate(&file, &GenerationSettings::default()).unwrap();
    let notes = generated.adaptations.join("\n");
    assert!(
        notes.contains("B: POST /things/{id}/data: request body [application/json, text/csv]"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "A: POST /things/{id}/data 201: `application/vnd.example+json` decoded as JSON"
        ),
        "{notes}"
    );
    assert!(
        notes.contains("D: POST /things/{id}/data: success responses 201/204"),
        "{notes}"
    );
    assert!(
        notes.contains("C: 2 declared 4xx/5xx responses left out"),
        "{notes}"
    );
    assert!(
        generated.source.contains("content_type"),
        "a Content-Type argument is generated"
    );
    assert!(
        notes.contains("E: stage_things sends `Accept: application/vnd.example+json`"),
        "{notes}"
    );
    assert!(
        generated
            .source
            .contains(r#""application/vnd.example+json""#),
        "the vendor type is sent in Accept"
    );
    assert!(
        !generated.source.contains("\"api-version\""),
        "no api-version header"
    );
}
