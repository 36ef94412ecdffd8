//! The check screen's backend events (`BackendEvent::Check`), delivered to it only.

use crate::editor::EditorCommand;
use crate::repo::check::Report;
use crate::runtime::effects::ExternalResult;

#[derive(Debug)]
pub enum Event {
    /// `homelab check` finished (the error: the repository could not be read).
    Finished(Result<Box<Report>, String>),
    /// A file the viewer asked for (a folder comes back as a listing).
    FileLoaded {
        file: String,
        text: Result<String, String>,
    },
    /// The operator's editor, opened on a violation (`e`), exited or could not be started.
    EditorExited {
        editor: EditorCommand,
        result: ExternalResult,
    },
}
