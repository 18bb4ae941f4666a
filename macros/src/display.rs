//! Writing tokens back in messages the way a user writes them: `&mut String`, not
//! `& mut String`; `io::Result<u32>`, not `io :: Result < u32 >`.

use quote::ToTokens;

/// `tokens` as source-like text.
pub fn tidy(tokens: impl ToTokens) -> String {
    let raw = tokens.to_token_stream().to_string();
    let mut text = raw
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" ::", "::")
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" : ", ": ")
        .replace("& ", "&")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace("fn (", "fn(")
        .replace("Fn (", "Fn(")
        .replace("FnMut (", "FnMut(")
        .replace("FnOnce (", "FnOnce(");
    // A leading minus sign: `- 1` is `-1`.
    if let Some(rest) = text.strip_prefix("- ") {
        text = format!("-{rest}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::tidy;
    use quote::quote;

    #[test]
    fn writes_types_as_source() {
        assert_eq!(tidy(quote!(&mut String)), "&mut String");
        assert_eq!(tidy(quote!(&'a mut String)), "&'a mut String");
        assert_eq!(
            tidy(quote!(Result<u32, io::Error>)),
            "Result<u32, io::Error>"
        );
        assert_eq!(tidy(quote!(Vec<Vec<u8>>)), "Vec<Vec<u8>>");
        assert_eq!(
            tidy(quote!(::std::result::Result<(), Box<dyn Error + Send>>)),
            "::std::result::Result<(), Box<dyn Error + Send>>"
        );
        assert_eq!(tidy(quote!(<T as Trait>::Out)), "<T as Trait>::Out");
        assert_eq!(tidy(quote!(-1)), "-1");
        assert_eq!(
            tidy(quote!(_req: &mut StreamRequest)),
            "_req: &mut StreamRequest"
        );
        assert_eq!(tidy(quote!("5")), "\"5\"");
        assert_eq!(tidy(quote!(fn(u8) -> u8)), "fn(u8) -> u8");
        assert_eq!(tidy(quote!(&mut (u8, u8))), "&mut (u8, u8)");
        assert_eq!(tidy(quote!(Box<dyn FnMut(u8)>)), "Box<dyn FnMut(u8)>");
    }
}
