//! Reading the configuration file: TOML with the `[[tenants]]` and one
//! runtime section (`[local]` for the one-machine server) whose type the
//! caller chooses. Every problem is reported with the file, the line, the
//! field's path and what is wrong; nothing is applied unless all is right.

use std::fmt;
use std::path::{Path, PathBuf};

use clinicflow_core::config::{Directory, TenantConfig};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use tracing_subscriber::filter::{LevelFilter, Targets};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile<L> {
    #[serde(default)]
    local: L,
    #[serde(default)]
    tenants: Vec<TenantConfig>,
}

/// A validated configuration: the runtime section and the tenants, as
/// validated and as written.
#[derive(Debug)]
pub struct Config<L> {
    pub local: L,
    pub directory: Directory,
    pub tenants: Vec<TenantConfig>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub path: String,
    pub message: String,
}

/// Why a configuration file was refused.
#[derive(Debug)]
pub struct ConfigFileError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the configuration in {} is not valid:",
            self.file.display()
        )?;
        for p in &self.problems {
            let at = match p.line {
                Some(line) => format!("{}:{line}", self.file.display()),
                None => self.file.display().to_string(),
            };
            if p.path.is_empty() {
                writeln!(f, "  {at}: {}", p.message)?;
            } else {
                writeln!(f, "  {at}: {}: {}", p.path, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigFileError {}

/// The runtime section of the configuration file (`[local]` for the local
/// server), checked like the tenants once it is read.
pub trait Section: DeserializeOwned + Default {
    /// What is wrong, as (path below the section, problem).
    fn problems(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A runtime that ignores the section (a Lambda function).
impl Section for serde::de::IgnoredAny {}

/// Reads and validates the file at `path`.
pub fn load<L: Section>(path: &Path) -> Result<Config<L>, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
        file: path.to_owned(),
        problems: vec![Problem {
            line: None,
            path: String::new(),
            message: format!("cannot be read: {e}"),
        }],
    })?;
    parse(&text).map_err(|problems| ConfigFileError {
        file: path.to_owned(),
        problems,
    })
}

/// Validates configuration text.
pub fn parse<L: Section>(text: &str) -> Result<Config<L>, Vec<Problem>> {
    let deserializer =
        toml::de::Deserializer::parse(text).map_err(|e| vec![syntax_problem(text, &e)])?;
    let file: ConfigFile<L> = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        vec![Problem {
            line: inner.span().map(|s| line_of(text, s.start)),
            path: if path == "." { String::new() } else { path },
            message: inner.message().to_owned(),
        }]
    })?;
    // Where each problem is, from a second parse that keeps spans: only
    // when there are problems (a cold start reads a good file).
    let located = |found: Vec<(String, String)>| -> Vec<Problem> {
        let tree = DeTable::parse(text).ok();
        found
            .into_iter()
            .map(|(path, message)| Problem {
                line: tree
                    .as_ref()
                    .and_then(|t| line_of_path(text, t.get_ref(), &path)),
                path,
                message,
            })
            .collect()
    };
    let mut problems: Vec<(String, String)> = file
        .local
        .problems()
        .into_iter()
        .map(|(path, message)| (format!("local.{path}"), message))
        .collect();
    let directory = match Directory::from_config("tenants", &file.tenants) {
        Ok(directory) if problems.is_empty() => directory,
        Ok(_) => return Err(located(problems)),
        Err(errors) => {
            problems.extend(errors.into_iter().map(|e| (e.path, e.problem)));
            return Err(located(problems));
        }
    };
    Ok(Config {
        local: file.local,
        directory,
        tenants: file.tenants,
    })
}

fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    Problem {
        line: e.span().map(|s| line_of(text, s.start)),
        path: String::new(),
        message: e.message().to_owned(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The line of the deepest part of `path` (`tenants[0].branches[1].time_zone`)
/// that exists in the document.
fn line_of_path(text: &str, root: &DeTable<'_>, path: &str) -> Option<usize> {
    let mut table = Some(root);
    let mut value: Option<&DeValue<'_>>;
    let mut span = None;
    for segment in path.split('.') {
        let (name, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        let Some(found) = table.and_then(|t| t.get(name)) else {
            break;
        };
        span = Some(found.span());
        value = Some(found.get_ref());
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Some(item) = index
                .parse::<usize>()
                .ok()
                .and_then(|i| value.and_then(|v| v.as_array()).and_then(|a| a.get(i)))
            else {
                return span.map(|s| line_of(text, s.start));
            };
            span = Some(item.span());
            value = Some(item.get_ref());
        }
        table = value.and_then(|v| v.as_table());
    }
    span.map(|s| line_of(text, s.start))
}

/// The log filter `CLINICFLOW_LOG` spells: a level, and levels per target
/// (`debug,hyper=info`). Unset, empty or unreadable, it is `info`. A plain
/// target filter rather than `EnvFilter`, whose span and field filters
/// nobody here uses and which brings the regex engine's full-DFA builder
/// into the binary: with it, every regular expression the process compiles
/// (the phone plans' at a cold start among them) also tries to build a full
/// DFA.
pub fn log_filter(spec: Option<&str>) -> Targets {
    spec.map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Local {
        port: Option<u16>,
    }

    impl Section for Local {}

    const TEXT: &str = r#"[local]
port = 3000

[[tenants]]
id = "demo"
name = "Demo"
staff_tokens = ["a-long-enough-staff-token"]

[[tenants.managers]]
id = "m"
name = "Manager"
email = "m@clinic.example"

[[tenants.branches]]
id = "main"
name = "Main"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["mon-fri 09:00-18:00"]

[[tenants.consultants]]
id = "c"
name = "Consultant"
branch = "main"
languages = ["tr"]
shifts = ["mon-fri 09:00-18:00"]
"#;

    #[test]
    fn a_valid_file() {
        let config: Config<Local> = parse(TEXT).unwrap();
        assert_eq!(config.local.port, Some(3000));
        assert_eq!(config.directory.tenants().count(), 1);
    }

    #[test]
    fn semantic_problems_name_line_and_field() {
        let text = TEXT.replace("Europe/Istanbul", "Mars/Olympus");
        let problems = parse::<Local>(&text).unwrap_err();
        assert_eq!(
            problems,
            [Problem {
                line: Some(17),
                path: "tenants[0].branches[0].time_zone".into(),
                message: "`Mars/Olympus` is not an IANA time zone such as Europe/Istanbul".into(),
            }]
        );
    }

    #[test]
    fn structural_problems_name_line_and_field() {
        let problems = parse::<Local>(&TEXT.replace("port = 3000", "port = \"x\"")).unwrap_err();
        assert_eq!(problems[0].path, "local.port");
        assert_eq!(problems[0].line, Some(2));

        let problems = parse::<Local>(&TEXT.replace("shifts =", "shift =")).unwrap_err();
        assert_eq!(problems[0].path, "tenants[0].consultants[0].shift");
        assert!(
            problems[0].message.contains("unknown field"),
            "{problems:?}"
        );
        assert_eq!(problems[0].line, Some(26));

        let problems = parse::<Local>("[[tenants]\n").unwrap_err();
        assert_eq!(problems[0].line, Some(1));

        let problems = parse::<Local>(
            &TEXT
                .replace("\"10m\"", "x")
                .replace("[local]", "[local]\nsla = 1"),
        )
        .unwrap_err();
        assert!(problems[0].message.contains("unknown field"));
    }

    #[test]
    fn the_file_is_named() {
        let e = load::<Local>(Path::new("/nonexistent/clinicflow.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/clinicflow.toml"));
    }

    #[test]
    fn the_log_filter_reads_levels_per_target_and_falls_back_to_info() {
        use tracing::Level;
        let filter = log_filter(Some("debug,hyper=info"));
        assert!(filter.would_enable("clinicflow_app", &Level::DEBUG));
        assert!(!filter.would_enable("hyper", &Level::DEBUG));
        assert!(filter.would_enable("hyper", &Level::INFO));
        for spec in [None, Some(""), Some("  "), Some("hyper=loud")] {
            let filter = log_filter(spec);
            assert!(
                filter.would_enable("clinicflow_app", &Level::INFO),
                "{spec:?}"
            );
            assert!(
                !filter.would_enable("clinicflow_app", &Level::DEBUG),
                "{spec:?}"
            );
        }
    }
}
