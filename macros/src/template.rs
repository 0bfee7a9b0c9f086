//! The expansion's fixed text as Rust source with `$name` holes, filled
//! with tokens. Kept as data rather than `quote!`, whose every token is a
//! call compiled into this crate: that was most of its build time.

use std::str::FromStr;

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::ToTokens;

/// A hole's name and what goes in it.
pub(crate) type Holes<'a> = [(&'a str, &'a dyn ToTokens)];

/// `source` with each `$name` replaced by the tokens of that hole. The
/// text's own tokens get the call site's span, as `quote!` gives them.
pub(crate) fn fill(source: &str, holes: &Holes) -> TokenStream {
    fill_with_span(source, None, holes)
}

/// [`fill`], with the text's own tokens spanned at `span` (what
/// `quote_spanned!` does): an error in them, such as a `compile_error!`,
/// points there. The holes keep their spans.
pub(crate) fn fill_at(span: Span, source: &str, holes: &Holes) -> TokenStream {
    fill_with_span(source, Some(span), holes)
}

fn fill_with_span(source: &str, span: Option<Span>, holes: &Holes) -> TokenStream {
    match TokenStream::from_str(source) {
        Ok(tokens) if holes.is_empty() && span.is_none() => tokens,
        Ok(tokens) => substitute(tokens, span, holes),
        // The templates are constants of this crate and every one is
        // expanded by the tests; still an error, never a panic.
        Err(error) => bug(&format!(
            "restartable-macros: a template does not lex ({error}); this is a bug, please \
             report it"
        )),
    }
}

fn substitute(tokens: TokenStream, span: Option<Span>, holes: &Holes) -> TokenStream {
    let mut filled = TokenStream::new();
    let mut tokens = tokens.into_iter();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(dollar) if dollar.as_char() == '$' => {
                let name = tokens.next();
                // One conversion: comparing an `Ident` with a `str` makes a
                // `String` of it each time.
                let text = match &name {
                    Some(TokenTree::Ident(name)) => name.to_string(),
                    _ => String::new(),
                };
                let hole = holes.iter().find(|(hole, _)| *hole == text);
                match hole {
                    Some((_, value)) => value.to_tokens(&mut filled),
                    None => filled.extend(bug(&format!(
                        "restartable-macros: a template's hole {name:?} has no value; this is \
                         a bug, please report it"
                    ))),
                }
            }
            TokenTree::Group(group) => {
                let mut new =
                    Group::new(group.delimiter(), substitute(group.stream(), span, holes));
                new.set_span(span.unwrap_or_else(|| group.span()));
                filled.extend([TokenTree::Group(new)]);
            }
            mut token => {
                if let Some(span) = span {
                    token.set_span(span);
                }
                filled.extend([token]);
            }
        }
    }
    filled
}

/// A mistake in this crate, reported as a compile error (`message` asks for
/// a bug report). Written without a template, so that a broken template
/// cannot loop.
fn bug(message: &str) -> TokenStream {
    let message = Literal::string(message);
    let mut tokens = TokenStream::from_str("::core::compile_error!").unwrap_or_default();
    let mut group = Group::new(
        proc_macro2::Delimiter::Parenthesis,
        TokenTree::Literal(message).into(),
    );
    group.set_span(Span::call_site());
    tokens.extend([TokenTree::Group(group)]);
    tokens
}
