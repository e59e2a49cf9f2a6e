//! The `ttl = "..."` text, read at compile time.

/// Nanoseconds, `None` for `"never"`, or the message of the error.
pub(crate) fn parse(text: &str) -> Result<Option<u64>, String> {
    let expected = format!(
        "invalid ttl {text:?}: expected a duration such as \"60s\", \"5m\", \"1h 30m\", \"500ms\" \
         (units: ms, s, m, h, d), or \"never\""
    );
    let trimmed = text.trim();
    if trimmed == "never" {
        return Ok(None);
    }
    let mut total: u64 = 0;
    let mut rest = trimmed;
    if rest.is_empty() {
        return Err(expected);
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(expected);
        }
        let number: u64 = rest[..digits].parse().map_err(|_| expected.clone())?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let nanos_per: u64 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" | "sec" | "secs" => 1_000_000_000,
            "m" | "min" | "mins" => 60_000_000_000,
            "h" | "hr" | "hrs" => 3_600_000_000_000,
            "d" | "day" | "days" => 86_400_000_000_000,
            _ => return Err(expected),
        };
        rest = rest[unit_len..].trim_start();
        total = number
            .checked_mul(nanos_per)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| format!("ttl {text:?} is too long"))?;
    }
    if total == 0 {
        return Err(format!(
            "ttl {text:?} is zero: an entry would never be stored (leave `ttl` out, or give \"never\")"
        ));
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn durations() {
        assert_eq!(parse("60s"), Ok(Some(60_000_000_000)));
        assert_eq!(parse("1h 30m"), Ok(Some(5_400_000_000_000)));
        assert_eq!(parse("1h30m"), Ok(Some(5_400_000_000_000)));
        assert_eq!(parse("500ms"), Ok(Some(500_000_000)));
        assert_eq!(parse("2d"), Ok(Some(172_800_000_000_000)));
        assert_eq!(parse("never"), Ok(None));
        for bad in [
            "",
            "60",
            "s",
            "60x",
            "1.5s",
            "-1s",
            "0s",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
