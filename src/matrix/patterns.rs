//! Build-name globs as the command line gives them (`--only`, `--except`, cleanup's `--build`):
//! repeatable flags of comma-separated patterns, split and compiled once.

/// The compiled patterns of one flag.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    /// The flag they came from, for messages (`--only`).
    pub flag: &'static str,
    items: Vec<(String, glob::Pattern)>,
}

impl Patterns {
    /// Splits and compiles the values of `flag`. Every problem is returned: a value naming no
    /// pattern at all (often an unset variable in a script, which must not widen a selection
    /// to everything) and each pattern that is not a glob.
    pub fn parse(flag: &'static str, values: &[String]) -> Result<Patterns, Vec<String>> {
        let mut problems = Vec::new();
        for value in values {
            if value.split(',').all(|p| p.trim().is_empty()) {
                problems.push(format!(
                    "{flag} '{value}' names no pattern; give build names or globs (e.g. {flag} 'us-east-1-*'), or leave {flag} out"
                ));
            }
        }
        let mut items = Vec::new();
        for src in values.iter().flat_map(|s| s.split(',')).map(str::trim) {
            if src.is_empty() {
                continue;
            }
            match glob::Pattern::new(src) {
                Ok(p) => items.push((src.to_string(), p)),
                Err(e) => problems.push(format!("{flag} '{src}': not a valid glob: {}", e.msg)),
            }
        }
        if problems.is_empty() {
            Ok(Patterns { flag, items })
        } else {
            Err(problems)
        }
    }

    /// True when the flag was not given.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether any pattern matches `name`.
    pub fn any_matches(&self, name: &str) -> bool {
        self.items.iter().any(|(_, p)| p.matches(name))
    }

    /// Each pattern as written, with its compiled form.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &glob::Pattern)> {
        self.items.iter().map(|(s, p)| (s.as_str(), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_are_split_on_commas_and_trimmed() {
        let p = Patterns::parse("--only", &v(&["us-*-pv, eu-*", "ap-south-1-1404-hvm"])).unwrap();
        let written: Vec<&str> = p.iter().map(|(s, _)| s).collect();
        assert_eq!(written, ["us-*-pv", "eu-*", "ap-south-1-1404-hvm"]);
        assert!(p.any_matches("eu-west-1-1204-hvm"));
        assert!(!p.any_matches("us-east-1-1404-hvm"));
    }

    #[test]
    fn empty_values_and_bad_globs_are_all_reported() {
        let problems = Patterns::parse("--build", &v(&[" , ", "a[", ""])).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("--build ' , ' names no pattern"));
        assert!(problems[1].contains("--build '' names no pattern"));
        assert!(problems[2].contains("--build 'a[': not a valid glob"));
    }
}
