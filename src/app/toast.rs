//! Toasts: notices fade, errors stay until dismissed (Esc or Ctrl-L).

use crate::theme::Level;

/// Ticks (250 ms) a toast stays: info 4 s, warnings 8 s, errors until dismissed.
const INFO_TICKS: u64 = 16;
const WARN_TICKS: u64 = 32;
/// At most this many are kept; the oldest non-error goes first.
const MAX_TOASTS: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub level: Level,
    pub text: String,
    /// How many times the same text arrived (shown as `(x3)`).
    pub count: u32,
    born: u64,
}

/// Ticks before expiry during which a notice is drawn dimmed (fading out).
const FADE_TICKS: u64 = 4;

impl Toast {
    /// In its last second: drawn dimmed.
    pub fn fading(&self, now_tick: u64) -> bool {
        let ttl = match self.level {
            Level::Info => INFO_TICKS,
            Level::Warn => WARN_TICKS,
            Level::Error => return false,
        };
        now_tick.saturating_sub(self.born) + FADE_TICKS >= ttl
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toasts {
    items: Vec<Toast>,
}

impl Toasts {
    pub fn push(&mut self, level: Level, text: impl Into<String>, now_tick: u64) {
        let text = text.into();
        if let Some(t) = self
            .items
            .iter_mut()
            .find(|t| t.text == text && t.level == level)
        {
            t.count += 1;
            t.born = now_tick;
            return;
        }
        self.items.push(Toast {
            level,
            text,
            count: 1,
            born: now_tick,
        });
        while self.items.len() > MAX_TOASTS {
            let idx = self
                .items
                .iter()
                .position(|t| t.level != Level::Error)
                .unwrap_or(0);
            self.items.remove(idx);
        }
    }

    /// Drop expired notices. True when something changed.
    pub fn expire(&mut self, now_tick: u64) -> bool {
        let before = self.items.len();
        self.items.retain(|t| match t.level {
            Level::Info => now_tick.saturating_sub(t.born) < INFO_TICKS,
            Level::Warn => now_tick.saturating_sub(t.born) < WARN_TICKS,
            Level::Error => true,
        });
        before != self.items.len()
    }

    /// Dismiss errors (Esc). True when there were any.
    pub fn dismiss_errors(&mut self) -> bool {
        let before = self.items.len();
        self.items.retain(|t| t.level != Level::Error);
        before != self.items.len()
    }

    pub fn clear(&mut self) -> bool {
        let had = !self.items.is_empty();
        self.items.clear();
        had
    }

    /// Dismiss the `index`-th toast in `iter` order (newest first), e.g. a clicked one.
    pub fn dismiss(&mut self, index: usize) {
        if index < self.items.len() {
            self.items.remove(self.items.len() - 1 - index);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|t| t.level == Level::Error)
    }

    /// Newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Toast> {
        self.items.iter().rev()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_fade_errors_stay() {
        let mut t = Toasts::default();
        t.push(Level::Info, "saved", 0);
        t.push(Level::Error, "boom", 0);
        t.push(Level::Info, "saved", 2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.iter().last().unwrap().count, 2);
        assert!(!t.iter().last().unwrap().fading(13));
        assert!(t.iter().last().unwrap().fading(14));
        assert!(
            !t.iter().next().unwrap().fading(10_000),
            "errors never fade"
        );
        assert!(!t.expire(17));
        assert!(t.expire(18));
        assert_eq!(
            t.iter().map(|x| x.text.as_str()).collect::<Vec<_>>(),
            vec!["boom"]
        );
        assert!(!t.expire(10_000));
        assert!(t.dismiss_errors());
        assert!(t.is_empty());
    }

    #[test]
    fn overflow_drops_oldest_notice_not_errors() {
        let mut t = Toasts::default();
        t.push(Level::Error, "e0", 0);
        for i in 0..10 {
            t.push(Level::Info, format!("n{i}"), 0);
        }
        assert_eq!(t.len(), MAX_TOASTS);
        assert!(t.has_errors());
    }
}
