//! Spec → Rust source: the generator step of the `esp-imports` build script.
//!
//! The specs in `specs/` describe each vendor's wire as it really is. progenitor 0.15.1 cannot
//! take all of it, so [`adapt`] rewrites an in-memory copy of the document before generation
//! (the file itself is never changed) and lists every rewrite in the header of the generated
//! source, where the snapshot test makes it reviewable:
//!
//! * **A. vendor JSON media types**: a response that declares only `…+json` (NP6's
//!   `application/vnd.mperf.v8.import.v1+json`) is generated as `application/json`, so it is
//!   decoded into its type instead of being handed back as bytes.
//! * **B. bodies progenitor cannot send**: a request body with several media types (Eloqua
//!   staging JSON | CSV, NP6 executions JSON | file) or one progenitor does not know
//!   (`text/csv`) becomes raw bytes plus a required `Content-Type` header argument whose enum is
//!   the declared media types. A body that already is `application/octet-stream` or `text/plain`
//!   gets the inline schema progenitor insists on.
//! * **C. untyped errors**: 4xx/5xx responses are left out of generation, so every error comes
//!   back whole as `Error::UnexpectedResponse(reqwest::Response)`, status, headers and body
//!   intact, whatever its content (an empty NP6 409, a Copernica JSON error, a proxy's HTML
//!   page). progenitor also panics when an operation's errors mix an empty and a JSON body.
//! * **D. mixed success bodies**: an operation whose 2xx responses are not all of one kind
//!   (Eloqua staging: 201 with a sync, or 204 empty) is generated as raw bytes plus status,
//!   instead of progenitor's assertion panic.
//!
//! Five rewrites of the generated code follow: two so that only what the vendors document goes
//! on the wire, three for the cost of a call:
//!
//! * **E. the vendor's `Accept`**: an operation whose responses are a vendor `…+json` type (A)
//!   sends that type in `Accept` instead of progenitor's `application/json`; one without a
//!   response body sends the type its `x-accept` names (NP6's `deleteImport`).
//! * **F. no `api-version`**: progenitor adds `api-version: <info.version>` to every request; no
//!   vendor documents that header, so it is removed.
//! * **G. URLs pushed, not formatted**: progenitor builds each URL with `format!` and each path
//!   parameter with `encode_path(&value.to_string())` (two more strings). The URL is built into
//!   one `String` instead, each parameter written into it by `crate::http::push_path`, which
//!   percent-encodes exactly as `encode_path` does and only when a byte needs it (the URL is the
//!   same; about 1,300 instructions less a call, BENCHMARKS.md section 3). A URL of any other
//!   shape is left as generated.
//! * **H. answers decoded without a copy of their headers**: `ResponseValue::from_response`
//!   copies the answer's headers before reading its body; `crate::http::decode` moves them into
//!   the same `ResponseValue` instead (the same value, the same errors).
//! * **I. requests built again, not copied**: the hooks' retry loop copies every request before
//!   sending it, in case it must be sent again. A request built from the call's arguments alone
//!   (no body, or a JSON one, and no header arguments) is built by a closure instead, that
//!   `crate::http::execute` calls again for each attempt: no copy when the first succeeds.
//!
//! Anything progenitor still refuses (or panics on) is reported as a [`SpecError`] naming the
//! spec file and the problem.
#![forbid(unsafe_code)]

pub mod vendors;

use std::{collections::BTreeMap, fmt, panic, path::Path};

use progenitor::{GenerationSettings, Generator};
use quote::ToTokens as _;
use serde_json::{json, Map, Value};
use syn::visit_mut::{self, VisitMut};

/// Why a spec could not be turned into Rust.
#[derive(Debug)]
pub struct SpecError {
    /// The spec file, as given to [`generate`].
    pub file: String,
    /// What is wrong, in words.
    pub problem: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problem)
    }
}

impl std::error::Error for SpecError {}

/// Formatted Rust source for one spec.
pub struct Generated {
    /// The source, with a header naming the spec and the adaptations made.
    pub source: String,
    /// One line per in-memory adaptation (see the module docs).
    pub adaptations: Vec<String>,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Request media types progenitor 0.15.1 generates a typed body for.
const TYPED_BODIES: [&str; 2] = ["application/json", "application/x-www-form-urlencoded"];

/// Reads `file`, adapts it (see the module docs) and generates the client with `settings`.
pub fn generate(file: &Path, settings: &GenerationSettings) -> Result<Generated, SpecError> {
    let name = file.display().to_string();
    let fail = |problem: String| SpecError {
        file: name.clone(),
        problem,
    };
    let text = std::fs::read_to_string(file).map_err(|e| fail(format!("cannot read: {e}")))?;
    // Parse as OpenAPI first: serde_yaml's errors carry the line and column.
    serde_yaml::from_str::<openapiv3::OpenAPI>(&text)
        .map_err(|e| fail(format!("not an OpenAPI 3.0 document: {e}")))?;
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| fail(format!("not YAML: {e}")))?;
    let mut doc = serde_json::to_value(yaml).map_err(|e| fail(format!("not JSON-shaped: {e}")))?;
    let accepts = vendor_accepts(&doc);
    let mut adaptations = adapt(&mut doc).map_err(fail)?;
    let spec: openapiv3::OpenAPI = serde_json::from_value(doc)
        .map_err(|e| fail(format!("not an OpenAPI 3.0 document after adaptation: {e}")))?;
    let mut ast = generate_ast(&spec, settings).map_err(fail)?;
    adaptations.extend(rewrite(&mut ast, &accepts).map_err(fail)?);

    let mut source = format!(
        "// @generated by build.rs from {} with progenitor 0.15.1. Do not edit: change the spec\n\
         // or codegen/, then rebuild.\n",
        name.replace('\\', "/")
    );
    if !adaptations.is_empty() {
        source
            .push_str("//\n// Adapted in memory before generation (the spec file is unchanged):\n");
        for line in &adaptations {
            source.push_str(&format!("// - {line}\n"));
        }
    }
    source.push('\n');
    source.push_str(&prettyplease::unparse(&ast));
    Ok(Generated {
        source,
        adaptations,
    })
}

/// Runs progenitor and parses its output, turning its panics (`todo!`, `assert!`) into an error
/// message.
fn generate_ast(
    spec: &openapiv3::OpenAPI,
    settings: &GenerationSettings,
) -> Result<syn::File, String> {
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        Generator::new(settings).generate_tokens(spec)
    }));
    panic::set_hook(previous_hook);
    match result {
        Ok(Ok(tokens)) => {
            syn::parse2(tokens).map_err(|e| format!("progenitor produced invalid Rust: {e}"))
        }
        Ok(Err(e)) => Err(format!("progenitor refused the spec: {e}")),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(no message)".into());
            Err(format!(
                "progenitor cannot generate this spec (it panicked: {message})"
            ))
        }
    }
}

/// Checks what progenitor needs and applies adaptations A–D to the document.
pub fn adapt(doc: &mut Value) -> Result<Vec<String>, String> {
    let version = doc["openapi"].as_str().unwrap_or_default().to_string();
    if !version.starts_with("3.0.") {
        return Err(format!(
            "`openapi: {version}` is not supported: progenitor 0.15 reads OpenAPI 3.0.x only"
        ));
    }
    let components = doc.get("components").cloned().unwrap_or(Value::Null);
    let mut notes = Vec::new();
    let mut untyped_errors = 0;
    let paths = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .ok_or("the document has no `paths`")?;
    for (path, item) in paths.iter_mut() {
        if item.get("$ref").is_some() {
            return Err(format!(
                "path `{path}` is a $ref: progenitor needs path items inline"
            ));
        }
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let here = format!("{} {path}", method.to_uppercase());
            if op.get("operationId").and_then(Value::as_str).is_none() {
                return Err(format!(
                    "{here} has no operationId (every operation needs one: it names the generated method)"
                ));
            }
            if let Some(parameter) = adapt_body(op, &components, &here, &mut notes)? {
                op.entry("parameters")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .ok_or(format!("{here}: `parameters` is not a list"))?
                    .push(parameter);
            }
            untyped_errors += adapt_responses(op, &components, &here, &mut notes)?;
        }
    }
    if untyped_errors > 0 {
        notes.push(format!(
            "C: {untyped_errors} declared 4xx/5xx responses left out: errors come back whole, untyped"
        ));
    }
    Ok(notes)
}

/// The `Accept` each operation must send when it is not `application/json` (rewrite E): the
/// vendor `…+json` type of its success responses when they declare no `application/json`, or
/// else its `x-accept`. Keyed by the generated method's name (the snake-case `operationId`).
fn vendor_accepts(doc: &Value) -> BTreeMap<String, String> {
    let components = doc.get("components").cloned().unwrap_or(Value::Null);
    let mut accepts = BTreeMap::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return accepts;
    };
    for item in paths.values() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let from_responses = op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(status, _)| status.starts_with('2'))
                .filter_map(|(_, response)| resolve(response, &components).ok())
                .filter_map(|response| response.get("content")?.as_object().cloned())
                .filter(|content| !content.contains_key("application/json"))
                .find_map(|content| content.keys().find(|t| t.ends_with("+json")).cloned());
            let media = from_responses.or_else(|| {
                op.get("x-accept")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            if let Some(media) = media {
                accepts.insert(snake_case(id), media);
            }
        }
    }
    accepts
}

/// `listImportFormats` → `list_import_formats`, as progenitor names methods and operations.
fn snake_case(id: &str) -> String {
    let mut out = String::new();
    for (i, c) in id.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Rewrites E and F of the generated code (see the module docs); returns their header lines.
fn rewrite(ast: &mut syn::File, accepts: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
    let mut rewrite = Rewrite {
        accepts,
        accept_set: BTreeMap::new(),
        api_version_removed: 0,
        urls_pushed: 0,
        decoded: 0,
        built_per_attempt: 0,
    };
    rewrite.visit_file_mut(ast);
    let mut notes = Vec::new();
    for (operation, media) in accepts {
        match rewrite.accept_set.get(operation) {
            Some(1) => notes.push(format!("E: {operation} sends `Accept: {media}`")),
            other => {
                return Err(format!(
                    "cannot set `Accept: {media}` on the generated {operation} (found {} places)",
                    other.copied().unwrap_or(0)
                ))
            }
        }
    }
    if rewrite.api_version_removed > 0 {
        notes.push(format!(
            "F: the undocumented `api-version` header removed from {} requests",
            rewrite.api_version_removed
        ));
    }
    if rewrite.urls_pushed > 0 {
        notes.push(format!(
            "G: {} URLs pushed into one string instead of formatted",
            rewrite.urls_pushed
        ));
    }
    if rewrite.decoded > 0 {
        notes.push(format!(
            "H: {} answers decoded with their headers moved, not copied",
            rewrite.decoded
        ));
    }
    if rewrite.built_per_attempt > 0 {
        notes.push(format!(
            "I: {} requests built again for each attempt instead of copied for a retry",
            rewrite.built_per_attempt
        ));
    }
    Ok(notes)
}

struct Rewrite<'a> {
    accepts: &'a BTreeMap<String, String>,
    /// Per operation, how many requests got their `Accept` (exactly one is expected).
    accept_set: BTreeMap<String, usize>,
    api_version_removed: usize,
    urls_pushed: usize,
    decoded: usize,
    built_per_attempt: usize,
}

impl VisitMut for Rewrite<'_> {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        let before = block.stmts.len();
        block.stmts.retain(|stmt| {
            !stmt
                .to_token_stream()
                .to_string()
                .contains("from_static (\"api-version\")")
        });
        if block.stmts.len() < before {
            self.api_version_removed += before - block.stmts.len();
            drop_empty_header_map(block);
        }
        visit_mut::visit_block_mut(self, block);
    }

    fn visit_local_mut(&mut self, local: &mut syn::Local) {
        if let (syn::Pat::Ident(name), Some(init)) = (&local.pat, &mut local.init) {
            if name.ident == "url" {
                if let Some(pushed) = pushed_url(&init.expr) {
                    *init.expr = pushed;
                    self.urls_pushed += 1;
                }
            }
        }
        visit_mut::visit_local_mut(self, local);
    }

    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        if let syn::Expr::Call(call) = expr {
            if call.func.to_token_stream().to_string() == "ResponseValue :: from_response"
                && call.args.len() == 1
            {
                let response = &call.args[0];
                *expr = syn::parse_quote!(crate::http::decode(#response));
                self.decoded += 1;
                return;
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_impl_item_fn_mut(&mut self, function: &mut syn::ImplItemFn) {
        let operation = operation_id(&function.block);
        if let Some((operation, media)) = operation
            .as_ref()
            .and_then(|op| Some((op, self.accepts.get(op)?)))
        {
            let mut set = SetAccept { media, done: 0 };
            set.visit_block_mut(&mut function.block);
            *self.accept_set.entry(operation.clone()).or_default() += set.done;
        }
        visit_mut::visit_impl_item_fn_mut(self, function);
        if built_per_attempt(&mut function.block) {
            self.built_per_attempt += 1;
        }
    }
}

/// Rewrite I of a generated `send` whose request is built from its arguments alone (no body of
/// its own, no header map): its statements
///
/// ```text
/// let url = …;
/// let mut request = client.client.get(url)….build()?;
/// let info = OperationInfo { … };
/// client.pre(&mut request, &info).await?;
/// let result = client.exec(request, &info).await;
/// ```
///
/// become `let info = …; let result = crate::http::execute(client, &info, || { let url = …;
/// client.client.get(url)….build() }).await;`, which builds the request again for each attempt
/// instead of copying it before the first in case it fails. Anything else is left as it is.
fn built_per_attempt(block: &mut syn::Block) -> bool {
    let text = |stmt: &syn::Stmt| stmt.to_token_stream().to_string();
    fn local<'s>(stmt: &'s syn::Stmt, name: &str) -> Option<&'s syn::LocalInit> {
        match stmt {
            syn::Stmt::Local(local) => match &local.pat {
                syn::Pat::Ident(pat) if pat.ident == name => local.init.as_ref(),
                _ => None,
            },
            _ => None,
        }
    }
    let Some(url) = block.stmts.iter().position(|s| local(s, "url").is_some()) else {
        return false;
    };
    let [url_stmt, request, info, pre, exec] = match block.stmts.get(url..url + 5) {
        Some([a, b, c, d, e]) => [a, b, c, d, e],
        _ => return false,
    };
    let Some(syn::Expr::Try(built)) = local(request, "request").map(|init| &*init.expr) else {
        return false;
    };
    let builder = text(&syn::Stmt::Expr((*built.expr).clone(), None));
    if local(info, "info").is_none()
        || text(pre) != "client . pre (& mut request , & info) . await ? ;"
        || text(exec) != "let result = client . exec (request , & info) . await ;"
        || !builder.ends_with(". build ()")
        || builder.contains(". body (")
        || builder.contains(". headers (")
    {
        return false;
    }
    let build = &built.expr;
    let rebuilt: [syn::Stmt; 2] = [
        info.clone(),
        syn::parse_quote!(
            let result = crate::http::execute(client, &info, || {
                #url_stmt
                #build
            })
            .await;
        ),
    ];
    block.stmts.splice(url..url + 5, rebuilt);
    true
}

/// Removes the `header_map` of a generated `send` when nothing is added to it any more (only
/// `api-version` was), and its `.headers(header_map)`: no empty map is built per request.
fn drop_empty_header_map(block: &mut syn::Block) {
    let uses = |stmt: &syn::Stmt, what: &str| stmt.to_token_stream().to_string().contains(what);
    if !block.stmts.iter().any(|s| uses(s, "let mut header_map"))
        || block.stmts.iter().any(|s| uses(s, "header_map . append"))
    {
        return;
    }
    block.stmts.retain(|s| !uses(s, "let mut header_map"));
    struct Unchain;
    impl VisitMut for Unchain {
        fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
            visit_mut::visit_expr_mut(self, expr);
            if let syn::Expr::MethodCall(call) = expr {
                if call.method == "headers"
                    && call.args.len() == 1
                    && call.args[0].to_token_stream().to_string() == "header_map"
                {
                    *expr = (*call.receiver).clone();
                }
            }
        }
    }
    Unchain.visit_block_mut(block);
}

/// Rewrite G of `format!("{}/syncs/{}", client.baseurl, encode_path(&id.to_string()),)`: a
/// block that pushes the same pieces into one `String`; `None` for any other shape.
fn pushed_url(expr: &syn::Expr) -> Option<syn::Expr> {
    use syn::{punctuated::Punctuated, Expr, Token};
    let Expr::Macro(format) = expr else {
        return None;
    };
    if !format.mac.path.is_ident("format") {
        return None;
    }
    let args = format
        .mac
        .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .ok()?;
    let mut args = args.into_iter();
    let Some(Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(template),
        ..
    })) = args.next()
    else {
        return None;
    };
    let template = template.value();
    let pieces: Vec<&str> = template.split("{}").collect();
    let args: Vec<Expr> = args.collect();
    if pieces.iter().any(|p| p.contains(['{', '}'])) || args.len() + 1 != pieces.len() {
        return None;
    }
    let mut base = None;
    let mut stmts: Vec<syn::Stmt> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if !piece.is_empty() {
            stmts.push(syn::parse_quote!(url.push_str(#piece);));
        }
        let Some(arg) = args.get(i) else { break };
        let text = arg.to_token_stream().to_string();
        if i == 0 && matches!(text.as_str(), "client . baseurl" | "self . baseurl") {
            stmts.push(syn::parse_quote!(url.push_str(&#arg);));
            base = Some(arg);
        } else {
            let value = path_parameter(arg)?;
            stmts.push(syn::parse_quote!(crate::http::push_path(&mut url, &#value);));
        }
    }
    let base = base?;
    // The literal pieces, and room for short parameters.
    let room = pieces.iter().map(|p| p.len()).sum::<usize>() + 24 * (args.len() - 1);
    Some(syn::parse_quote!({
        let mut url = ::std::string::String::with_capacity(#base.len() + #room);
        #(#stmts)*
        url
    }))
}

/// The `value` of `encode_path(&value.to_string())`.
fn path_parameter(arg: &syn::Expr) -> Option<syn::Expr> {
    let syn::Expr::Call(call) = arg else {
        return None;
    };
    if call.func.to_token_stream().to_string() != "encode_path" || call.args.len() != 1 {
        return None;
    }
    let syn::Expr::Reference(reference) = &call.args[0] else {
        return None;
    };
    let syn::Expr::MethodCall(to_string) = &*reference.expr else {
        return None;
    };
    (to_string.method == "to_string" && to_string.args.is_empty())
        .then(|| (*to_string.receiver).clone())
}

/// The `operation_id: "…"` of the `OperationInfo` a generated `send` builds.
fn operation_id(block: &syn::Block) -> Option<String> {
    struct Find(Option<String>);
    impl VisitMut for Find {
        fn visit_field_value_mut(&mut self, field: &mut syn::FieldValue) {
            if let (syn::Member::Named(name), syn::Expr::Lit(lit)) = (&field.member, &field.expr) {
                if let (true, syn::Lit::Str(id)) = (name == "operation_id", &lit.lit) {
                    self.0 = Some(id.value());
                }
            }
            visit_mut::visit_field_value_mut(self, field);
        }
    }
    let mut find = Find(None);
    find.visit_block_mut(&mut block.clone());
    find.0
}

/// Sets `Accept` on the request an operation builds: replaces the value of its
/// `.header(ACCEPT, …)`, or adds that call to `client.client.<method>(url)` when there is none.
struct SetAccept<'a> {
    media: &'a str,
    done: usize,
}

impl VisitMut for SetAccept<'_> {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        visit_mut::visit_block_mut(self, block);
        if self.done > 0 {
            return;
        }
        // No Accept header yet (no response body): add one to the request builder.
        let media = self.media;
        let mut add = AddAccept { media, done: 0 };
        add.visit_block_mut(block);
        self.done += add.done;
    }

    fn visit_expr_method_call_mut(&mut self, call: &mut syn::ExprMethodCall) {
        if call.method == "header"
            && call.args.len() == 2
            && call.args[0]
                .to_token_stream()
                .to_string()
                .ends_with("ACCEPT")
        {
            let media = self.media;
            call.args[1] = syn::parse_quote!(::reqwest::header::HeaderValue::from_static(#media));
            self.done += 1;
        }
        visit_mut::visit_expr_method_call_mut(self, call);
    }
}

struct AddAccept<'a> {
    media: &'a str,
    done: usize,
}

impl VisitMut for AddAccept<'_> {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        if let syn::Expr::MethodCall(call) = expr {
            let receiver = call.receiver.to_token_stream().to_string();
            // `client.client.post(url)` (builder style) or `self.client.post(url)` (positional).
            if matches!(receiver.as_str(), "client . client" | "self . client")
                && METHODS.contains(&call.method.to_string().as_str())
            {
                let media = self.media;
                let inner = expr.clone();
                *expr = syn::parse_quote!(#inner.header(
                    ::reqwest::header::ACCEPT,
                    ::reqwest::header::HeaderValue::from_static(#media),
                ));
                self.done += 1;
                return;
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }
}

/// Follows a local `$ref` (`#/components/<kind>/<name>`) to a copy of its target.
fn resolve(value: &Value, components: &Value) -> Result<Value, String> {
    let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
        return Ok(value.clone());
    };
    let target = reference
        .strip_prefix("#/components/")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(kind, name)| components.get(kind)?.get(name))
        .ok_or(format!("unresolvable $ref `{reference}`"))?;
    resolve(target, components)
}

fn binary_schema() -> Value {
    json!({"type": "string", "format": "binary"})
}

/// Adaptation B. Returns the `Content-Type` header parameter to add, if any.
fn adapt_body(
    op: &mut Map<String, Value>,
    components: &Value,
    here: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Value>, String> {
    let Some(body) = op.get_mut("requestBody") else {
        return Ok(None);
    };
    *body = resolve(body, components).map_err(|e| format!("{here}: {e}"))?;
    let content = body
        .get_mut("content")
        .and_then(Value::as_object_mut)
        .ok_or(format!("{here}: request body without `content`"))?;
    let types: Vec<String> = content.keys().cloned().collect();
    match types.as_slice() {
        [one] if TYPED_BODIES.contains(&one.as_str()) => Ok(None),
        [one] if one == "application/octet-stream" => {
            content[one.as_str()]["schema"] = binary_schema();
            Ok(None)
        }
        [one] if one == "text/plain" => {
            content[one.as_str()]["schema"] = json!({"type": "string"});
            Ok(None)
        }
        _ => {
            content.clear();
            content.insert(
                "application/octet-stream".into(),
                json!({"schema": binary_schema()}),
            );
            notes.push(format!(
                "B: {here}: request body [{}] sent as raw bytes with a Content-Type argument",
                types.join(", ")
            ));
            Ok(Some(json!({
                "name": "Content-Type",
                "in": "header",
                "required": true,
                "description": "Media type of the body",
                "schema": {"type": "string", "enum": types},
            })))
        }
    }
}

/// How progenitor classifies a success response.
#[derive(PartialEq)]
enum Kind {
    Typed(Value),
    Raw,
    Empty,
}

/// Adaptations A, C and D. Returns how many error responses were left out.
fn adapt_responses(
    op: &mut Map<String, Value>,
    components: &Value,
    here: &str,
    notes: &mut Vec<String>,
) -> Result<usize, String> {
    let responses = op
        .get_mut("responses")
        .and_then(Value::as_object_mut)
        .ok_or(format!("{here} has no `responses`"))?;
    if responses.contains_key("default") {
        return Err(format!(
            "{here} declares a `default` response: progenitor takes it for both success and \
             error; declare explicit status codes"
        ));
    }
    let before = responses.len();
    responses.retain(|status, _| status.starts_with('2'));
    let left_out = before - responses.len();

    let mut kinds = Vec::new();
    for (status, response) in responses.iter_mut() {
        *response = resolve(response, components).map_err(|e| format!("{here} {status}: {e}"))?;
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            kinds.push(Kind::Empty);
            continue;
        };
        if !content.contains_key("application/json") {
            if let Some(vendor) = content.keys().find(|t| t.ends_with("+json")).cloned() {
                let media = content[&vendor].clone();
                content.insert("application/json".into(), media);
                notes.push(format!("A: {here} {status}: `{vendor}` decoded as JSON"));
            }
        }
        kinds.push(match content.get("application/json") {
            Some(media) => Kind::Typed(media.get("schema").cloned().unwrap_or(Value::Null)),
            None if content.is_empty() => Kind::Empty,
            None => Kind::Raw,
        });
    }
    if kinds.iter().any(|k| k != &kinds[0]) {
        let statuses: Vec<String> = responses.keys().cloned().collect();
        for response in responses.values_mut() {
            response["content"] = json!({"application/octet-stream": {"schema": binary_schema()}});
        }
        notes.push(format!(
            "D: {here}: success responses {} differ in body, returned as raw bytes with the status",
            statuses.join("/")
        ));
    }
    Ok(left_out)
}
