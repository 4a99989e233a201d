//! The environment the local server reads credentials from: the process's
//! variables over those of a `.env` file in the working directory (read,
//! never written into the process environment).

use std::collections::HashMap;
use std::io;
use std::path::Path;

/// Every variable: `.env`'s first, then the process's over them.
pub fn variables(dotenv: &Path) -> io::Result<HashMap<String, String>> {
    let mut vars = HashMap::new();
    if dotenv.exists() {
        let entries = dotenvy::from_path_iter(dotenv)
            .map_err(|e| io::Error::other(format!("{}: {e}", dotenv.display())))?;
        for entry in entries {
            let (name, value) =
                entry.map_err(|e| io::Error::other(format!("{}: {e}", dotenv.display())))?;
            vars.insert(name, value);
        }
    }
    vars.extend(std::env::vars());
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_environment_wins_over_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "CLINICFLOW_TEST_ONLY_IN_FILE=from-file\nPATH=not-this\n# a comment\n",
        )
        .unwrap();
        let vars = variables(&path).unwrap();
        assert_eq!(
            vars.get("CLINICFLOW_TEST_ONLY_IN_FILE").map(String::as_str),
            Some("from-file")
        );
        assert_ne!(vars.get("PATH").map(String::as_str), Some("not-this"));
        assert!(variables(&dir.path().join("absent")).is_ok());
    }
}
