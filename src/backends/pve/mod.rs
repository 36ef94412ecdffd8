//! Proxmox VE API backend.
//!
//! - [`transport`]: our reqwest client (form bodies with content type, token or ticket+CSRF auth,
//!   pinned TLS, timeouts, retries with backoff on 5xx/connection errors, never on 4xx, never a
//!   POST), plugged into proxmox-api's generated paths through its `Client` trait.
//! - [`reconcile`]: a task-starting POST whose answer is lost is not repeated; the task list is
//!   read back instead.
//! - [`api`]: the [`Hypervisor`] trait the proxmox stage uses, implemented for [`PveClient`].
//! - [`types`]: plain data, UPIDs, sshkeys encoding, and the types proxmox-api leaves untyped.
//! - [`error`]: errors built from status + reason phrase + `errors` map; names the missing
//!   privilege and path of a 403.
//! - [`tls`]: fingerprint pinning (rustls verifier) and the first-use probe; [`trust`]: storing
//!   the pin in the cluster definition.

pub mod api;
pub mod error;
pub mod reconcile;
pub mod router;
pub mod tls;
pub mod transport;
pub mod trust;
pub mod types;
pub mod vm_current;

pub use api::{DownloadSpec, Hypervisor, TemplateSpec, VmConfigMap};
pub use error::{PveError, PveErrorKind};
pub use transport::{Auth, PveClient, PveSettings, Trust};
pub use types::Upid;
