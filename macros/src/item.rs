//! Parses the annotated item: a function without a receiver, not generic,
//! not `const`, with an empty body, returning `io::Result<T>`.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::{
    Attribute, Block, GenericArgument, PathArguments, ReturnType, Signature, Token, Type,
    Visibility,
};

use super::errors::Errors;

pub(crate) const SUPPORTED_TYPES: &str = "std::net::TcpListener, std::net::UdpSocket or \
                                          restartable::socket2::Socket";

pub(crate) struct ListenerFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `T` of `io::Result<T>`, when the return type has that shape.
    pub(crate) socket_type: Option<Type>,
}

enum Body {
    Block(Block),
    Semicolon,
}

fn parse_fn(input: ParseStream) -> syn::Result<(Vec<Attribute>, Visibility, Signature, Body)> {
    let attrs = input.call(Attribute::parse_outer)?;
    let vis = input.parse()?;
    let sig = input.parse()?;
    let body = if input.peek(Token![;]) {
        input.parse::<Token![;]>()?;
        Body::Semicolon
    } else {
        Body::Block(input.parse()?)
    };
    Ok((attrs, vis, sig, body))
}

/// Parses the function and reports each way it does not fit. `Err` holds
/// the item unchanged when it is not a function at all.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Result<ListenerFn, TokenStream> {
    let Ok((attrs, vis, sig, body)) = parse_fn.parse2(tokens.clone()) else {
        not_a_function(&tokens, errors);
        return Err(tokens);
    };
    if let Some(constness) = &sig.constness {
        errors.at(
            constness,
            "a listener cannot be made in a `const fn`: remove `const`",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let generics = &sig.generics;
        let where_clause = &generics.where_clause;
        errors.at(
            &quote!(#generics #where_clause),
            "a generic function is not supported: the attribute writes one concrete listener",
        );
    }
    if let Some(receiver) = sig.receiver() {
        errors.at(
            receiver,
            "a method with `self` is not supported: use an associated function without \
             a receiver, or a free function",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic, "a variadic function is not supported");
    }
    if let Body::Block(block) = &body {
        if !block.stmts.is_empty() {
            let stmts = &block.stmts;
            errors.at(
                &quote!(#(#stmts)*),
                "the body is written by #[restartable_listener]: leave it empty (`{}`); to set \
                 more socket options, use `configure = path::to::fn`",
            );
        }
    }
    let socket_type = socket_type(&sig, errors);
    Ok(ListenerFn {
        attrs,
        vis,
        sig,
        socket_type,
    })
}

/// `T` of a return type `...::Result<T>` or `Result<T, E>`, or an error.
fn socket_type(sig: &Signature, errors: &mut Errors) -> Option<Type> {
    let ty = match &sig.output {
        ReturnType::Type(_, ty) => ty,
        ReturnType::Default => {
            errors.at(
                &sig.ident,
                format!(
                    "missing return type: expected `std::io::Result<T>` where T is \
                     {SUPPORTED_TYPES}"
                ),
            );
            return None;
        }
    };
    let found = match &**ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path
                .segments
                .last()
                .and_then(|last| match &last.arguments {
                    PathArguments::AngleBracketed(args) if last.ident == "Result" => {
                        match args.args.first() {
                            Some(GenericArgument::Type(inner)) => Some(inner.clone()),
                            _ => None,
                        }
                    }
                    _ => None,
                })
        }
        _ => None,
    };
    if found.is_none() {
        errors.at(
            ty,
            format!("expected `std::io::Result<T>` where T is {SUPPORTED_TYPES}"),
        );
    }
    found
}

fn not_a_function(tokens: &TokenStream, errors: &mut Errors) {
    // The item's keyword (`struct`, `impl`, ...), after any attributes and
    // visibility: enough to point at without parsing the whole item.
    for token in tokens.clone() {
        match token {
            TokenTree::Ident(word) if word == "pub" || word == "unsafe" => {}
            TokenTree::Ident(keyword) => {
                errors.at(
                    &keyword,
                    format!(
                        "#[restartable_listener] goes on a function such as \
                         `fn listener() -> std::io::Result<std::net::TcpListener> {{}}`, \
                         found `{keyword}`"
                    ),
                );
                return;
            }
            _ => {}
        }
    }
    errors.at(
        tokens,
        "#[restartable_listener] goes on a function such as \
         `fn listener() -> std::io::Result<std::net::TcpListener> {}`",
    );
}
