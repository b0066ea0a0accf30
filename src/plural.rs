//! Counts that agree with their nouns in user-facing text: "1 step", "2 steps", never
//! "2 step(s)".

/// `n` and the noun, plural unless `n` is 1 ("1 simulated host", "3 side effects").
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {}", noun_for(n, noun))
}

/// The noun alone, plural unless `n` is 1.
pub fn noun_for(n: usize, noun: &str) -> String {
    if n == 1 {
        noun.to_string()
    } else {
        format!("{noun}s")
    }
}

/// "was" for 1, "were" otherwise (after a count: "1 of 4 steps was applied").
pub fn were(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "simulated host"), "1 simulated host");
        assert_eq!(count(0, "step"), "0 steps");
        assert_eq!(count(2, "side effect"), "2 side effects");
        assert_eq!(noun_for(1, "pair"), "pair");
        assert_eq!((were(1), were(0), were(3)), ("was", "were", "were"));
    }
}
