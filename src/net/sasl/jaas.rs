//! The `sasl.jaas.config` value: one JAAS login module entry, as Java's
//! `org.apache.kafka.common.security.JaasConfig` parses it:
//!
//! ```text
//! <LoginModuleClass> <flag> key="value" key2=value2 ... ;
//! ```
//!
//! `flag` is `required`, `requisite`, `sufficient` or `optional` (any case).
//! Values are quoted (`"..."` or `'...'`, backslash escapes as in Java's
//! `StreamTokenizer`: `\"`, `\\`, `\n`, `\t`, ...) or bare tokens of letters,
//! digits, `.`, `-`, `_` and `$`. The trailing `;` is required and exactly one
//! entry is allowed, as in Java. Comments (`//`, `/* */`), which Java's
//! tokenizer skips, are not accepted.
//!
//! The text holds passwords, so errors give a position and never quote it.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// The configuration key parsed here, for error messages.
pub const KEY: &str = "sasl.jaas.config";

/// Stands for the value of a secret in error messages.
pub const HIDDEN: &str = "[hidden]";

/// The JAAS control flag of a login module entry. Kafka reads it but a single
/// entry makes them all behave alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlFlag {
    /// `required`
    Required,
    /// `requisite`
    Requisite,
    /// `sufficient`
    Sufficient,
    /// `optional`
    Optional,
}

/// One parsed `sasl.jaas.config` entry. `Debug` shows the option names only:
/// their values may be passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module class, e.g.
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub login_module: String,
    /// The control flag.
    pub flag: ControlFlag,
    /// The options (`key=value`), a later duplicate replacing an earlier one
    /// as in Java.
    pub options: BTreeMap<String, String>,
}

impl fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaasEntry")
            .field("login_module", &self.login_module)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JaasEntry {
    /// The value of option `key`, if present.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// Parses a `sasl.jaas.config` value. Errors are [`Error::Config`] for
/// `sasl.jaas.config` with the value hidden and the position (1-based
/// character) of the problem.
pub fn parse(text: &str) -> Result<JaasEntry> {
    Parser::new(text).entry()
}

/// The form every error message recalls.
const EXPECTED_FORM: &str = "expected `<LoginModuleClass> required key=\"value\" key2=\"value2\";` (one entry ending in ';')";

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

/// A lexical token. Word and quoted text are kept apart: only words can be
/// class names, flags and option names.
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
    End,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn error(&self, at: usize, what: &str) -> Error {
        Error::config(
            KEY,
            HIDDEN,
            format!(
                "{what} at character {} of the value; {EXPECTED_FORM}",
                at + 1
            ),
        )
    }

    fn skip_whitespace(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    /// The next token and the position where it starts.
    fn next(&mut self) -> Result<(usize, Token)> {
        self.skip_whitespace();
        let start = self.pos;
        let Some(&c) = self.chars.get(self.pos) else {
            return Ok((start, Token::End));
        };
        match c {
            '=' => {
                self.pos += 1;
                Ok((start, Token::Equals))
            }
            ';' => {
                self.pos += 1;
                Ok((start, Token::Semicolon))
            }
            '"' | '\'' => self.quoted(c).map(|s| (start, Token::Quoted(s))),
            c if is_word_char(c) => {
                while self.chars.get(self.pos).is_some_and(|&c| is_word_char(c)) {
                    self.pos += 1;
                }
                Ok((start, Token::Word(self.chars[start..self.pos].iter().collect())))
            }
            _ => Err(self.error(
                start,
                "unexpected character (quote values that contain characters other than letters, digits, '.', '-', '_' and '$')",
            )),
        }
    }

    /// A quoted string starting at `self.pos` (on the quote).
    fn quoted(&mut self, quote: char) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                return Err(self.error(start, "quoted value not closed"));
            };
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(&e) = self.chars.get(self.pos) else {
                return Err(self.error(start, "quoted value not closed"));
            };
            self.pos += 1;
            // StreamTokenizer's escapes; any other escaped character stands
            // for itself (`\"`, `\\`, `\'`).
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'a' => '\u{7}',
                'v' => '\u{b}',
                other => other,
            });
        }
    }

    fn entry(&mut self) -> Result<JaasEntry> {
        let login_module = match self.next()? {
            (_, Token::Word(w)) if is_class_name(&w) => w,
            (at, Token::End) => return Err(self.error(at, "no login module class")),
            (at, _) => {
                return Err(self.error(
                    at,
                    "expected a login module class name (e.g. org.apache.kafka.common.security.plain.PlainLoginModule)",
                ));
            }
        };
        let flag = match self.next()? {
            (at, Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "required" => ControlFlag::Required,
                "requisite" => ControlFlag::Requisite,
                "sufficient" => ControlFlag::Sufficient,
                "optional" => ControlFlag::Optional,
                _ => {
                    return Err(self.error(
                        at,
                        "expected the control flag required, requisite, sufficient or optional after the login module class",
                    ));
                }
            },
            (at, _) => {
                return Err(self.error(
                    at,
                    "expected the control flag required, requisite, sufficient or optional after the login module class",
                ));
            }
        };
        let mut options = BTreeMap::new();
        loop {
            let key = match self.next()? {
                (_, Token::Semicolon) => break,
                (at, Token::End) => {
                    return Err(self.error(at, "entry not terminated by ';'"));
                }
                (_, Token::Word(w)) => w,
                (at, _) => return Err(self.error(at, "expected an option name")),
            };
            match self.next()? {
                (_, Token::Equals) => {}
                (at, _) => return Err(self.error(at, "expected '=' after the option name")),
            }
            let value = match self.next()? {
                (_, Token::Word(w) | Token::Quoted(w)) => w,
                (at, _) => return Err(self.error(at, "expected a value after '='")),
            };
            options.insert(key, value);
        }
        self.skip_whitespace();
        if self.pos < self.chars.len() {
            return Err(self.error(
                self.pos,
                "text after the ';' that ends the entry (sasl.jaas.config takes exactly one login module)",
            ));
        }
        Ok(JaasEntry {
            login_module,
            flag,
            options,
        })
    }
}

/// Characters of bare tokens: `StreamTokenizer`'s word characters (letters,
/// digits, `.`, `-`, `_`, `$` as Kafka configures it).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '$')
}

/// A Java class name: dot-separated identifiers.
fn is_class_name(w: &str) -> bool {
    w.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

    fn err(text: &str) -> String {
        let e = parse(text).unwrap_err();
        match &e {
            Error::Config { key, value, .. } => {
                assert_eq!(key, KEY);
                assert_eq!(value, HIDDEN);
            }
            other => panic!("{other:?}"),
        }
        e.to_string()
    }

    #[test]
    fn parses_quoted_and_bare_values() {
        let e = parse(&format!(
            "{PLAIN} required username=\"alice\" password='p w;=' mode=bare-1.0_$ ;"
        ))
        .unwrap();
        assert_eq!(e.login_module, PLAIN);
        assert_eq!(e.flag, ControlFlag::Required);
        assert_eq!(e.option("username"), Some("alice"));
        assert_eq!(e.option("password"), Some("p w;="));
        assert_eq!(e.option("mode"), Some("bare-1.0_$"));
        assert_eq!(e.options.len(), 3);
    }

    #[test]
    fn escapes_in_quoted_values() {
        let e = parse(&format!(
            r#"{PLAIN} required password="a\"b\\c\'d\ne" other='x\'y';"#
        ))
        .unwrap();
        assert_eq!(e.option("password"), Some("a\"b\\c'd\ne"));
        assert_eq!(e.option("other"), Some("x'y"));
    }

    #[test]
    fn flags_any_case_and_whitespace() {
        for (text, flag) in [
            ("REQUIRED", ControlFlag::Required),
            ("Requisite", ControlFlag::Requisite),
            ("sufficient", ControlFlag::Sufficient),
            ("optional", ControlFlag::Optional),
        ] {
            let e = parse(&format!("\n  {PLAIN}\t{text}\n a = \"1\"\n;\n ")).unwrap();
            assert_eq!(e.flag, flag);
            assert_eq!(e.option("a"), Some("1"));
        }
        let e = parse(&format!("{PLAIN} required;")).unwrap();
        assert!(e.options.is_empty());
    }

    #[test]
    fn later_duplicate_wins_as_in_java() {
        let e = parse(&format!("{PLAIN} required a=\"1\" a=\"2\";")).unwrap();
        assert_eq!(e.option("a"), Some("2"));
    }

    #[test]
    fn missing_semicolon_is_rejected_with_position() {
        let text = format!("{PLAIN} required username=\"u\" password=\"hunter2\"");
        let t = err(&text);
        assert!(t.contains("not terminated by ';'"), "{t}");
        assert!(
            t.contains(&format!("character {}", text.chars().count() + 1)),
            "{t}"
        );
        assert!(!t.contains("hunter2"), "{t}");
    }

    #[test]
    fn errors_never_echo_the_text() {
        let bad = [
            "",
            "   ",
            "required;",
            "\"hunter2\" required;",
            &format!("{PLAIN};"),
            &format!("{PLAIN} mandatory password=\"hunter2\";"),
            &format!("{PLAIN} required password=\"hunter2"),
            &format!("{PLAIN} required password=\"hunter2\\"),
            &format!("{PLAIN} required password hunter2;"),
            &format!("{PLAIN} required password=;"),
            &format!("{PLAIN} required password=hunter2!;"),
            &format!("{PLAIN} required =\"hunter2\";"),
            &format!("{PLAIN} required password=\"hunter2\"; {PLAIN} required;"),
            &format!("{PLAIN} required password=\"hunter2\";;"),
            "org..Foo required;",
            "1org.Foo required;",
        ];
        for text in bad {
            let t = err(text);
            assert!(!t.contains("hunter2"), "{t}");
            assert!(t.contains("at character "), "{t}");
        }
    }

    #[test]
    fn error_positions() {
        // 'mandatory' starts at character len(PLAIN) + 2.
        let t = err(&format!("{PLAIN} mandatory;"));
        assert!(t.contains("control flag"), "{t}");
        assert!(t.contains(&format!("character {}", PLAIN.len() + 2)), "{t}");
        let t = err(&format!("{PLAIN} required pass\"word\"=x;"));
        assert!(t.contains("expected '='"), "{t}");
        let t = err(&format!("{PLAIN} required a=\"unterminated;"));
        assert!(t.contains("not closed"), "{t}");
        let t = err(&format!("{PLAIN} required; trailing"));
        assert!(t.contains("exactly one login module"), "{t}");
    }

    #[test]
    fn unknown_class_is_returned_as_written() {
        // Whether the class fits the mechanism is decided by the caller.
        let e = parse("com.example.MyLoginModule optional;").unwrap();
        assert_eq!(e.login_module, "com.example.MyLoginModule");
        assert!(!is_class_name("a..b"));
        assert!(!is_class_name("a-b"));
        assert!(is_class_name("$a._b1"));
    }

    #[test]
    fn debug_hides_option_values() {
        let e = parse(&format!(
            "{PLAIN} required username=u password=\"hunter2\";"
        ))
        .unwrap();
        let d = format!("{e:?}");
        assert!(d.contains("password") && !d.contains("hunter2"), "{d}");
    }
}
