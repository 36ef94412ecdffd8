use super::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn typed(text: &str) -> LineEdit {
    let mut e = LineEdit::default();
    for c in text.chars() {
        assert!(e.on_key(key(KeyCode::Char(c))));
    }
    e
}

/// The text and the cursor cell as drawn in `width` columns.
fn drawn(e: &LineEdit, width: usize) -> (String, String) {
    let spans = e.spans(width, Style::new(), true);
    let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
    (text, spans[1].content.to_string())
}

#[test]
fn edits_like_a_shell_line() {
    let mut t = typed("theme ligt");
    t.on_key(key(KeyCode::Left));
    t.on_key(key(KeyCode::Char('h')));
    assert_eq!(t.value(), "theme light");
    t.on_key(ctrl('w'));
    assert_eq!(t.value(), "theme t");
    t.on_key(key(KeyCode::End));
    t.on_key(key(KeyCode::Backspace));
    t.on_key(key(KeyCode::Home));
    t.on_key(key(KeyCode::Delete));
    assert_eq!(t.value(), "heme ");
    assert!(!t.on_key(key(KeyCode::Enter)));
    assert!(!t.on_key(key(KeyCode::Tab)));
    t.insert_str("é\n!\t\x1b");
    assert_eq!(
        t.value(),
        "é!heme ",
        "control characters never reach a field"
    );
    t.on_key(ctrl('k'));
    assert_eq!(t.value(), "é!");
    t.on_key(ctrl('a'));
    t.on_key(key(KeyCode::Right));
    t.on_key(ctrl('u'));
    assert_eq!((t.value(), t.cursor()), ("!", 0));
    t.on_key(ctrl('e'));
    assert_eq!(t.cursor(), 1);
}

#[test]
fn word_stops_and_utf8_cursor_moves() {
    let mut q = LineEdit::default().with_word_stops("{},|=\"");
    q.set("{app=\"x\"} |= \"foo bar");
    q.kill_word();
    assert_eq!(q.value(), "{app=\"x\"} |= \"foo ");
    q.kill_word();
    assert_eq!(q.value(), "{app=\"x\"} |= \"");
    q.set("é{");
    q.left();
    q.left();
    q.insert('x');
    assert_eq!((q.value(), q.cursor(), q.cursor_chars()), ("xé{", 1, 1));
    q.right();
    assert_eq!(q.cursor(), 3, "over the two bytes of é");
    q.set_cursor(2);
    assert_eq!(q.cursor(), 1, "inside é: back to its start");
    q.replace_range(1..3, "ab");
    assert_eq!((q.value(), q.cursor()), ("xab{", 3));
    q.set_cursor_chars(10);
    assert_eq!(q.cursor(), 4);
}

#[test]
fn drawing_scrolls_by_display_width_and_keeps_the_cursor_visible() {
    // Two-column characters: 5 of them are 10 columns.
    let e = typed("日本語です");
    let (text, under) = drawn(&e, 6);
    assert_eq!(text, "です ", "the cursor cell sits after the last char");
    assert_eq!(under, " ");
    let mut e = e;
    e.home();
    let (text, under) = drawn(&e, 6);
    assert_eq!((text.as_str(), under.as_str()), ("日本語", "日"));
    // ASCII: shows the end, cursor in the last column.
    let e = typed("abcdefghij");
    assert_eq!(drawn(&e, 5).0, "ghij ");
    // Wide enough: everything.
    assert_eq!(drawn(&e, 40).0, "abcdefghij ");
}

#[test]
fn render_draws_prompt_text_and_placeholder() {
    let theme = crate::theme::ThemeCatalog::builtin().load("homelab-dark").0;
    let draw = |e: &LineEdit| {
        let mut t = Terminal::new(TestBackend::new(12, 1)).unwrap();
        t.draw(|f| e.render(f, f.area(), "> ", "type", theme.ui.key, &theme))
            .unwrap();
        t.backend().to_string()
    };
    assert_eq!(draw(&LineEdit::default()), "\">  type     \"\n");
    assert_eq!(draw(&typed("0123456789abc")), "\"> 456789abc \"\n");
}

#[test]
fn secret_mode_masks_until_revealed_and_hides_from_debug() {
    let mut s = LineEdit::secret();
    s.insert_str("pässwort");
    assert_eq!(drawn(&s, 40).0, "•••••••• ");
    assert!(!format!("{s:?}").contains("pässwort"));
    s.home();
    s.right();
    assert_eq!(drawn(&s, 40).1, "•", "cursor on the second mask char");
    s.toggle_reveal();
    assert!(s.revealed());
    assert_eq!(drawn(&s, 40).0, "pässwort");
}

#[test]
fn every_buffer_is_wiped_on_clear_growth_take_and_drop() {
    test_hook::take();
    let mut s = LineEdit::secret();
    s.insert_str("hunter2");
    assert!(test_hook::take().is_empty(), "no wipe while it fits");
    s.clear();
    assert_eq!(
        test_hook::take(),
        vec!["hunter2".to_string()],
        "clear wipes"
    );

    // Growing past the buffer moves the text and wipes the old buffer.
    let long = "x".repeat(INITIAL_CAPACITY);
    s.insert_str(&long);
    s.insert_str("tail");
    let wiped = test_hook::take();
    assert_eq!(wiped, vec![long.clone()], "the outgrown buffer is wiped");

    s.set("again");
    assert_eq!(
        test_hook::take(),
        vec![format!("{long}tail")],
        "set wipes the old text"
    );

    // Take hands the buffer on without a copy: nothing to wipe here, the Zeroizing does.
    let taken = s.take();
    assert_eq!(taken.as_str(), "again");
    assert!(s.is_empty());
    assert!(test_hook::take().is_empty());

    s.insert_str("on drop");
    drop(s);
    assert_eq!(test_hook::take(), vec!["on drop".to_string()], "drop wipes");
}

#[test]
fn split_and_append_join_lines_through_the_core() {
    let mut a = LineEdit::default();
    a.set("hello world");
    a.set_cursor(5);
    let b = a.split_off();
    assert_eq!((a.value(), b.value(), b.cursor()), ("hello", " world", 0));
    a.append(b.value());
    assert_eq!((a.value(), a.cursor()), ("hello world", 5));
}

#[test]
fn history_recalls_and_restores_the_draft() {
    let mut h = History::default();
    let mut e = LineEdit::default();
    h.record("{a=\"1\"}");
    h.record("{a=\"2\"}");
    h.record("{a=\"2\"}");
    h.record("");
    assert_eq!(
        h.entries().len(),
        2,
        "no empty entries, no consecutive duplicates"
    );
    e.set("draft");
    h.prev(&mut e);
    assert_eq!(e.value(), "{a=\"2\"}");
    h.prev(&mut e);
    h.prev(&mut e);
    assert_eq!(e.value(), "{a=\"1\"}", "stops at the oldest");
    assert_eq!(e.cursor(), e.value().len());
    h.next(&mut e);
    assert_eq!(e.value(), "{a=\"2\"}");
    h.next(&mut e);
    assert_eq!(e.value(), "draft");
    h.next(&mut e);
    assert_eq!(e.value(), "draft", "Down past the draft does nothing");

    h.set((0..HISTORY_MAX + 5).map(|i| i.to_string()).collect());
    assert_eq!(h.entries().len(), HISTORY_MAX);
    assert_eq!(h.entries()[0], "5", "the oldest go first");
    h.record("new");
    assert_eq!(h.entries().len(), HISTORY_MAX);
    assert_eq!(h.entries()[0], "6");
}
