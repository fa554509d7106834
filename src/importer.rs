//! One entry point for every vendor: [`Importer`], built from [`Credentials`] and a
//! [`Location`], runs a [`VendorImport`].

use std::fmt;

#[cfg(feature = "copernica")]
use crate::copernica;
#[cfg(feature = "eloqua")]
use crate::eloqua;
#[cfg(feature = "mailperformance")]
use crate::mailperformance;
#[cfg(feature = "mindbaz")]
use crate::mindbaz;
use crate::{Error, Fields, HttpConfig, ImportOptions, ImportReport, StatusOptions, Vendor};

/// An enum with one variant per vendor (each behind its vendor's feature, named as in
/// [`Vendor`]), its `vendor()`, and a `From` for each variant's type.
macro_rules! per_vendor {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[doc = $doc:literal])* $feature:literal $variant:ident($type:ty),)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                #[cfg(feature = $feature)]
                $variant($type),
            )*
        }

        impl $name {
            /// The vendor this is for.
            pub fn vendor(&self) -> Vendor {
                match *self {
                    $(
                        #[cfg(feature = $feature)]
                        Self::$variant(_) => Vendor::$variant,
                    )*
                }
            }
        }

        $(
            #[cfg(feature = $feature)]
            impl From<$type> for $name {
                fn from(value: $type) -> Self {
                    Self::$variant(value)
                }
            }
        )*
    };
}

per_vendor! {
    /// A vendor's credentials, which say which vendor an [`Importer`] is for. Their `Debug`
    /// shows no secret (each [`crate::Secret`] prints `[redacted]`).
    pub enum Credentials {
        /// NP6 MailPerformance's API key.
        "mailperformance" Mailperformance(mailperformance::Auth),
        /// Copernica's access token.
        "copernica" Copernica(copernica::Auth),
        /// Mindbaz's token or API key (the SFTP account, if any, is in [`VendorImport`]).
        "mindbaz" Mindbaz(mindbaz::Auth),
        /// Eloqua's user and password, or token.
        "eloqua" Eloqua(eloqua::Auth),
    }
}

per_vendor! {
    /// A vendor's part of an import's options, for [`Importer::import`].
    pub enum VendorImport {
        /// NP6 MailPerformance's options.
        "mailperformance" Mailperformance(mailperformance::Np6Import),
        /// Copernica's options.
        "copernica" Copernica(copernica::CopernicaImport),
        /// Mindbaz's options.
        "mindbaz" Mindbaz(mindbaz::MindbazImport),
        /// Eloqua's options.
        "eloqua" Eloqua(eloqua::EloquaImport),
    }
}

/// Where an [`Importer`] finds the vendor's API. Every URL passes [`HttpConfig::check_url`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// The vendor's production URL (its module's `PRODUCTION_URL`); for Eloqua, the account's
    /// pod, discovered through `eloqua::LOGIN_URL` at the first import.
    #[default]
    Production,
    /// This base URL, API version included; for Eloqua, the pod's Bulk API URL (ending in
    /// `/api/bulk/2.0`), with no discovery.
    BaseUrl(String),
    /// Eloqua only: the pod discovered through this login service (`GET {url}/id`) at the
    /// first import.
    EloquaLogin(String),
}

impl Location {
    /// The base URL given, or `production`.
    #[cfg(any(
        feature = "mailperformance",
        feature = "copernica",
        feature = "mindbaz"
    ))]
    fn base_url_or<'a>(&'a self, production: &'a str) -> &'a str {
        match self {
            Location::BaseUrl(url) => url,
            _ => production,
        }
    }
}

/// Runs imports into one vendor, whichever it is: the vendor-agnostic entry point. It is built
/// from the vendor's [`Credentials`], where its API is ([`Location`]) and the
/// [`HttpConfig`], and [`Importer::import`] runs that vendor's whole import (what each
/// vendor's `Client::import` does) with the vendor's part of the options in a
/// [`VendorImport`].
///
/// ```no_run
/// # #[cfg(feature = "copernica")]
/// # async fn run() -> Result<(), esp_imports::Error> {
/// use esp_imports::{copernica, HttpConfig, ImportOptions, Importer, Location, Secret};
///
/// let token = copernica::Auth::AccessToken(Secret::new("token"));
/// let importer = Importer::new(token.into(), Location::Production, &HttpConfig::default())?;
/// let options = ImportOptions::new("contacts.csv", [("email", "email")], "email");
/// let database = copernica::CopernicaImport::new("newsletter");
/// let report = importer.import(&options, &database.into()).await?;
/// println!("{:?}: {:?} rows imported", report.status, report.rows_imported);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Importer {
    client: VendorClient,
}

/// The vendor's client.
#[derive(Clone)]
enum VendorClient {
    #[cfg(feature = "mailperformance")]
    Mailperformance(mailperformance::Client),
    #[cfg(feature = "copernica")]
    Copernica(copernica::Client),
    #[cfg(feature = "mindbaz")]
    Mindbaz(mindbaz::Client),
    #[cfg(feature = "eloqua")]
    Eloqua(EloquaPod),
}

/// An Eloqua client, or what finds its pod.
#[cfg(feature = "eloqua")]
#[derive(Clone)]
enum EloquaPod {
    Known(eloqua::Client),
    Discover {
        login_url: String,
        auth: eloqua::Auth,
        config: HttpConfig,
    },
}

#[cfg(feature = "eloqua")]
impl EloquaPod {
    /// Finds the pod through `login_url` at the first import.
    fn discover(login_url: &str, auth: eloqua::Auth, config: &HttpConfig) -> Result<Self, Error> {
        Ok(EloquaPod::Discover {
            login_url: config.check_url(login_url)?,
            auth,
            config: config.clone(),
        })
    }

    /// The client, its pod discovered first if need be (once per process, per login URL and
    /// user: [`eloqua::Client::discover`]).
    async fn client(&self) -> Result<eloqua::Client, Error> {
        match self {
            EloquaPod::Known(client) => Ok(client.clone()),
            EloquaPod::Discover {
                login_url,
                auth,
                config,
            } => {
                let base = eloqua::Client::discover(login_url, auth, config).await?;
                eloqua::Client::with_auth(&base, auth, config)
            }
        }
    }
}

impl Importer {
    /// An importer into the vendor of `credentials`, at `location`, whose clients follow
    /// `config`. No request is sent (Eloqua's pod is discovered at the first import). A URL
    /// that [`HttpConfig::check_url`] refuses, or [`Location::EloquaLogin`] for another vendor,
    /// is an [`Error::InvalidConfig`].
    pub fn new(
        credentials: Credentials,
        location: Location,
        config: &HttpConfig,
    ) -> Result<Self, Error> {
        let vendor = credentials.vendor();
        if vendor != Vendor::Eloqua && matches!(location, Location::EloquaLogin(_)) {
            return Err(Error::InvalidConfig {
                setting: "login URL",
                reason: format!(
                    "only Eloqua discovers its API through a login URL: give {vendor}'s base URL"
                ),
            });
        }
        let client = match credentials {
            #[cfg(feature = "mailperformance")]
            Credentials::Mailperformance(auth) => {
                let base = location.base_url_or(mailperformance::PRODUCTION_URL);
                VendorClient::Mailperformance(mailperformance::Client::with_auth(
                    base, &auth, config,
                )?)
            }
            #[cfg(feature = "copernica")]
            Credentials::Copernica(auth) => {
                let base = location.base_url_or(copernica::PRODUCTION_URL);
                VendorClient::Copernica(copernica::Client::with_auth(base, &auth, config)?)
            }
            #[cfg(feature = "mindbaz")]
            Credentials::Mindbaz(auth) => {
                let base = location.base_url_or(mindbaz::PRODUCTION_URL);
                VendorClient::Mindbaz(mindbaz::Client::with_auth(base, &auth, config)?)
            }
            #[cfg(feature = "eloqua")]
            Credentials::Eloqua(auth) => VendorClient::Eloqua(match location {
                Location::BaseUrl(url) => {
                    EloquaPod::Known(eloqua::Client::with_auth(&url, &auth, config)?)
                }
                Location::Production => EloquaPod::discover(eloqua::LOGIN_URL, auth, config)?,
                Location::EloquaLogin(url) => EloquaPod::discover(&url, auth, config)?,
            }),
        };
        Ok(Self { client })
    }

    /// The vendor this importer imports into.
    pub fn vendor(&self) -> Vendor {
        match self.client {
            #[cfg(feature = "mailperformance")]
            VendorClient::Mailperformance(_) => Vendor::Mailperformance,
            #[cfg(feature = "copernica")]
            VendorClient::Copernica(_) => Vendor::Copernica,
            #[cfg(feature = "mindbaz")]
            VendorClient::Mindbaz(_) => Vendor::Mindbaz,
            #[cfg(feature = "eloqua")]
            VendorClient::Eloqua(_) => Vendor::Eloqua,
        }
    }

    /// Runs a whole import into the vendor, as its `Client::import` does (see each vendor's).
    /// `vendor_options` of another vendor is an [`Error::InvalidConfig`], before any request.
    /// For Eloqua, everything is checked before the pod is discovered, so bad input sends
    /// nothing.
    pub async fn import(
        &self,
        options: &ImportOptions,
        vendor_options: &VendorImport,
    ) -> Result<ImportReport, Error> {
        match (&self.client, vendor_options) {
            #[cfg(feature = "mailperformance")]
            (VendorClient::Mailperformance(client), VendorImport::Mailperformance(np6)) => {
                client.import(options, np6).await
            }
            #[cfg(feature = "copernica")]
            (VendorClient::Copernica(client), VendorImport::Copernica(copernica)) => {
                client.import(options, copernica).await
            }
            #[cfg(feature = "mindbaz")]
            (VendorClient::Mindbaz(client), VendorImport::Mindbaz(mindbaz)) => {
                client.import(options, mindbaz).await
            }
            #[cfg(feature = "eloqua")]
            (VendorClient::Eloqua(pod), VendorImport::Eloqua(eloqua)) => {
                let checked = eloqua.check(options)?;
                let client = pod.client().await?;
                client.import_checked(options, eloqua, checked).await
            }
            // Another vendor's options (none, when only one vendor is built).
            #[allow(unreachable_patterns)]
            _ => Err(self.other_vendor(vendor_options)),
        }
    }

    /// The report of the import `import_id`, the id an import's report gave (with `no_wait`,
    /// or in an [`Error::Interrupted`]), read from the vendor as its `Client::status` does
    /// (see each vendor's): once, or following it to its end with [`StatusOptions::wait`],
    /// with the same progress events as an import. Still running, it is
    /// [`crate::Status::Submitted`]; ended, it is reported as [`Importer::import`] reports it,
    /// without the file's row count (there is no file here). `vendor_options` are the import's
    /// (Mindbaz reads its site, Eloqua the cleanup it does once the sync has ended; the other
    /// vendors read nothing of them). An id the vendor cannot have given, or `vendor_options`
    /// of another vendor, is an [`Error::InvalidConfig`], before any request (for Eloqua,
    /// before the pod is discovered).
    pub async fn status(
        &self,
        import_id: &str,
        options: &StatusOptions,
        vendor_options: &VendorImport,
    ) -> Result<ImportReport, Error> {
        match (&self.client, vendor_options) {
            #[cfg(feature = "mailperformance")]
            (VendorClient::Mailperformance(client), VendorImport::Mailperformance(_)) => {
                client.status(import_id, options).await
            }
            #[cfg(feature = "copernica")]
            (VendorClient::Copernica(client), VendorImport::Copernica(_)) => {
                client.status(import_id, options).await
            }
            #[cfg(feature = "mindbaz")]
            (VendorClient::Mindbaz(client), VendorImport::Mindbaz(mindbaz)) => {
                client.status(mindbaz.site, import_id, options).await
            }
            #[cfg(feature = "eloqua")]
            (VendorClient::Eloqua(pod), VendorImport::Eloqua(eloqua)) => {
                eloqua::sync_id(import_id)?;
                let client = pod.client().await?;
                client.status(import_id, options, eloqua).await
            }
            // Another vendor's options (none, when only one vendor is built).
            #[allow(unreachable_patterns)]
            _ => Err(self.other_vendor(vendor_options)),
        }
    }

    /// The vendor's contact fields, as its `Client::fields` reads them (see each vendor's):
    /// what a column map names, by id or name ([`Fields::resolve`], [`Fields::auto_map`]).
    /// `vendor_options` say where: Copernica's database, Mindbaz's site (NP6 and Eloqua read
    /// nothing of them). Only reads.
    pub async fn fields(&self, vendor_options: &VendorImport) -> Result<Fields, Error> {
        match (&self.client, vendor_options) {
            #[cfg(feature = "mailperformance")]
            (VendorClient::Mailperformance(client), VendorImport::Mailperformance(_)) => {
                client.fields().await
            }
            #[cfg(feature = "copernica")]
            (VendorClient::Copernica(client), VendorImport::Copernica(copernica)) => {
                client.fields(&copernica.database).await
            }
            #[cfg(feature = "mindbaz")]
            (VendorClient::Mindbaz(client), VendorImport::Mindbaz(mindbaz)) => {
                client.fields(mindbaz.site).await
            }
            #[cfg(feature = "eloqua")]
            (VendorClient::Eloqua(pod), VendorImport::Eloqua(_)) => {
                pod.client().await?.fields().await
            }
            // Another vendor's options (none, when only one vendor is built).
            #[allow(unreachable_patterns)]
            _ => Err(self.other_vendor(vendor_options)),
        }
    }

    /// The error for `vendor_options` of another vendor than this importer's.
    fn other_vendor(&self, vendor_options: &VendorImport) -> Error {
        Error::InvalidConfig {
            setting: "vendor",
            reason: format!(
                "this importer imports into {}, and the import's options are {}'s",
                self.vendor(),
                vendor_options.vendor()
            ),
        }
    }
}

impl fmt::Debug for Importer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use progenitor_client::ClientInfo as _;
        // URLs hold no credentials (`HttpConfig::check_url` refuses them).
        let url = match &self.client {
            #[cfg(feature = "mailperformance")]
            VendorClient::Mailperformance(client) => client.baseurl(),
            #[cfg(feature = "copernica")]
            VendorClient::Copernica(client) => client.baseurl(),
            #[cfg(feature = "mindbaz")]
            VendorClient::Mindbaz(client) => client.baseurl(),
            #[cfg(feature = "eloqua")]
            VendorClient::Eloqua(EloquaPod::Known(client)) => client.baseurl(),
            #[cfg(feature = "eloqua")]
            VendorClient::Eloqua(EloquaPod::Discover { login_url, .. }) => login_url,
        };
        f.debug_struct("Importer")
            .field("vendor", &self.vendor())
            .field("url", &url)
            .finish()
    }
}
