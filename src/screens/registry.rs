//! The screen registry: the [`screens!`] macro turns one entry per screen (in `screens/mod.rs`)
//! into everything the app derives from it: [`ScreenId`](super::ScreenId) with its
//! [`Info`] (name = keymap context, title, job line, home key, availability), the typed
//! [`Screens`](super::Screens) fields with `new`/`get`/`get_mut`, and the routing of each
//! screen's backend events to that screen only (`Screens::deliver`).
//!
//! Only screens that exist are registered, so the home menu, the palette, `?` help and the
//! keymap contexts list exactly the screens of this build.

/// What the app shows and checks about a screen, declared once in its registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// `open <name>` and the keymap context of the screen.
    pub name: &'static str,
    /// Title in the top bar, the home menu, the palette and `?` help.
    pub title: &'static str,
    /// One line on what the screen is for (home menu, palette, status line).
    pub blurb: &'static str,
    /// Listed in the home menu's jobs, opened with this key there.
    pub job: Option<Job>,
    /// Opens only in a repository session (a `homelab env edit FILE` session edits one file).
    pub needs_repo: bool,
}

/// A screen's entry in the home menu: the key that opens it there and the `?` help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// In keymap notation (`b`, `C`, `ctrl-x`); a test checks it parses and is free.
    pub key: &'static str,
    pub desc: &'static str,
}

/// Hands one backend event to the screen that owns it (see `Screens::route`).
pub(crate) type Deliver = Box<dyn FnOnce(&mut super::Screens, &mut crate::app::UpdateCx)>;

/// One entry per screen:
///
/// ```text
/// Variant { field: module_field, state: module::State, info: Info { .. } },
/// Variant { field: .., state: .., events: module::Event, info: Info { .. } },
/// ```
///
/// `events: module::Event` means `BackendEvent::Variant(module::Event)` exists in `msg.rs` and
/// is delivered to that screen's [`Owner::on_event`](super::Owner) only. A `BackendEvent`
/// variant without a registered owner, or an owner without `on_event`, does not compile.
macro_rules! screens {
    ($(
        $(#[$doc:meta])*
        $id:ident {
            field: $field:ident,
            state: $state:ty,
            $(events: $event:ty,)?
            info: $info:expr $(,)?
        }
    ),* $(,)?) => {
        /// Every screen of this build, in registry order (home menu and palette order).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ScreenId {
            $($(#[$doc])* $id,)*
        }

        impl ScreenId {
            pub const ALL: &[ScreenId] = &[$(ScreenId::$id),*];

            /// The registry entry.
            pub fn info(self) -> &'static $crate::screens::registry::Info {
                match self {
                    $(ScreenId::$id => {
                        const INFO: $crate::screens::registry::Info = $info;
                        &INFO
                    })*
                }
            }
        }

        /// The screens, as typed fields: state survives switching away (the console keeps
        /// its buffer).
        pub struct Screens {
            $(pub $field: $state,)*
        }

        impl Screens {
            pub fn new(
                session: &$crate::app::Session,
                start: &$crate::screens::StartParams,
            ) -> Self {
                Self { $($field: <$state as $crate::screens::Start>::start(session, start),)* }
            }

            pub fn get(&self, id: ScreenId) -> &dyn $crate::screens::Screen {
                match id { $(ScreenId::$id => &self.$field,)* }
            }

            pub fn get_mut(&mut self, id: ScreenId) -> &mut dyn $crate::screens::Screen {
                match id { $(ScreenId::$id => &mut self.$field,)* }
            }

            /// The owner of `event`: one screen, with the typed call that hands the event to
            /// it; or the app, whose own events come back.
            pub(crate) fn route(
                event: $crate::msg::BackendEvent,
            ) -> Result<(ScreenId, $crate::screens::registry::Deliver), $crate::app::Event> {
                use $crate::msg::BackendEvent;
                match event {
                    BackendEvent::App(event) => Err(event),
                    $($(BackendEvent::$id(event) => {
                        let event: $event = event;
                        Ok((
                            ScreenId::$id,
                            Box::new(move |screens: &mut Screens, cx: &mut $crate::app::UpdateCx| {
                                $crate::screens::Owner::on_event(&mut screens.$field, event, cx)
                            }),
                        ))
                    })?)*
                }
            }
        }

        $($(
            impl From<$event> for $crate::msg::BackendEvent {
                fn from(event: $event) -> Self {
                    $crate::msg::BackendEvent::$id(event)
                }
            }
        )?)*
    };
}
pub(crate) use screens;
