//! The `Sec-WebSocket-Extensions` list grammar (RFC 6455 section 9.1):
//!
//! ```text
//! extension-list = 1#extension
//! extension      = token *( ";" param )
//! param          = token [ "=" ( token | quoted-string ) ]
//! ```
//!
//! with optional whitespace around every separator and empty list elements
//! allowed, as in any HTTP list. A malformed element is reported as such and
//! parsing resumes after the next comma that is not inside quotes, so one
//! bad offer does not hide the ones after it.

use std::borrow::Cow;

/// One list element: an extension name and its parameters, in order.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Extension<'a> {
    pub name: &'a str,
    pub params: Vec<Param<'a>>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Param<'a> {
    pub name: &'a str,
    /// Unquoted and unescaped; None when the parameter had no `=`.
    pub value: Option<Cow<'a, str>>,
}

/// The elements of an extension list; `Err(())` for a malformed one.
pub(super) fn extensions(header: &str) -> impl Iterator<Item = Result<Extension<'_>, ()>> {
    let mut cursor = Cursor {
        text: header,
        pos: 0,
    };
    std::iter::from_fn(move || loop {
        cursor.skip_whitespace();
        match cursor.peek() {
            None => return None,
            Some(b',') => cursor.pos += 1,
            Some(_) => {
                let element = cursor.extension();
                if element.is_err() {
                    cursor.skip_past_comma();
                }
                return Some(element);
            }
        }
    })
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<&'a str, ()> {
        let start = self.pos;
        while self.peek().is_some_and(is_token_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(());
        }
        Ok(&self.text[start..self.pos])
    }

    /// A quoted-string, cursor on the opening quote; returns the content
    /// with `\x` escapes resolved.
    fn quoted(&mut self) -> Result<Cow<'a, str>, ()> {
        self.pos += 1;
        let start = self.pos;
        let mut unescaped: Option<String> = None;
        loop {
            let byte = self.peek().ok_or(())?;
            match byte {
                b'"' => {
                    let raw = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(unescaped.map_or(Cow::Borrowed(raw), Cow::Owned));
                }
                b'\\' => {
                    let owned =
                        unescaped.get_or_insert_with(|| self.text[start..self.pos].to_owned());
                    let escaped = self.text[self.pos + 1..].chars().next().ok_or(())?;
                    owned.push(escaped);
                    self.pos += 1 + escaped.len_utf8();
                }
                _ => {
                    let ch = self.text[self.pos..].chars().next().ok_or(())?;
                    if let Some(owned) = &mut unescaped {
                        owned.push(ch);
                    }
                    self.pos += ch.len_utf8();
                }
            }
        }
    }

    fn extension(&mut self) -> Result<Extension<'a>, ()> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                None | Some(b',') => return Ok(Extension { name, params }),
                Some(b';') => {
                    self.pos += 1;
                    self.skip_whitespace();
                    params.push(self.param()?);
                }
                Some(_) => return Err(()),
            }
        }
    }

    fn param(&mut self) -> Result<Param<'a>, ()> {
        let name = self.token()?;
        self.skip_whitespace();
        if self.peek() != Some(b'=') {
            return Ok(Param { name, value: None });
        }
        self.pos += 1;
        self.skip_whitespace();
        let value = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            Cow::Borrowed(self.token()?)
        };
        Ok(Param {
            name,
            value: Some(value),
        })
    }

    /// Recovers from a malformed element: moves past the next comma outside
    /// a quoted-string (to the end if there is none).
    fn skip_past_comma(&mut self) {
        let bytes = self.text.as_bytes();
        let mut quoted = false;
        while let Some(&byte) = bytes.get(self.pos) {
            self.pos += 1;
            match byte {
                b'"' => quoted = !quoted,
                b'\\' if quoted => self.pos += 1,
                b',' if !quoted => return,
                _ => {}
            }
        }
        self.pos = self.pos.min(bytes.len());
    }
}

/// RFC 7230 `tchar`.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str) -> Vec<Result<Extension<'_>, ()>> {
        extensions(header).collect()
    }

    fn ext<'a>(name: &'a str, params: &[(&'a str, Option<&'a str>)]) -> Result<Extension<'a>, ()> {
        let params = params
            .iter()
            .map(|&(name, value)| Param {
                name,
                value: value.map(Cow::Borrowed),
            })
            .collect();
        Ok(Extension { name, params })
    }

    #[test]
    fn elements_params_and_whitespace() {
        assert_eq!(parse(""), []);
        assert_eq!(parse(" , ,\t"), []);
        assert_eq!(
            parse("foo, permessage-deflate ;\tclient_max_window_bits ; server_max_window_bits = 10 ,bar"),
            [
                ext("foo", &[]),
                ext(
                    "permessage-deflate",
                    &[("client_max_window_bits", None), ("server_max_window_bits", Some("10"))]
                ),
                ext("bar", &[]),
            ]
        );
    }

    #[test]
    fn quoted_values() {
        assert_eq!(
            parse(r#"a; x="1,2;3", b; y="\1\"0", c; z="""#),
            [
                ext("a", &[("x", Some("1,2;3"))]),
                ext("b", &[("y", Some("1\"0"))]),
                ext("c", &[("z", Some(""))]),
            ]
        );
    }

    #[test]
    fn malformed_elements_are_skipped_to_the_next_comma() {
        assert_eq!(
            parse(r#"a;, b c, ;x, d; x=, e; ="1", f; q="un,terminated, g"#),
            [Err(()), Err(()), Err(()), Err(()), Err(()), Err(())]
        );
        assert_eq!(
            parse(r#"a; x="q,uoted" junk, b; y=1"#),
            [Err(()), ext("b", &[("y", Some("1"))])]
        );
        assert_eq!(parse("a; x=é, b"), [Err(()), ext("b", &[])]);
        assert_eq!(
            parse(r#"a; x="é", b"#),
            [ext("a", &[("x", Some("é"))]), ext("b", &[])]
        );
        assert_eq!(parse(r#"a; x="\"#), [Err(())]);
    }
}
