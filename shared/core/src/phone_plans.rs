//! The numbering plans phone numbers are read with. The `phonenumber`
//! crate's own database holds every region's plan and checks all their
//! patterns at its first use (≈ 0.1 s, once per process: most of a cold
//! start). A process instead serves the plans of its tenants' regions
//! ([`serve`], a fraction of a millisecond each, at configuration time) and
//! reads a number with them when they decide it; only a number they cannot
//! decide (another country's, or not a number at all) loads the full
//! database.

use std::sync::{Arc, PoisonError, RwLock};

use phonenumber::metadata::{DATABASE, Database, loader};

use crate::contact::Region;

include!(concat!(env!("OUT_DIR"), "/phone_plans.rs"));

struct Served {
    regions: Vec<&'static str>,
    database: Arc<Database>,
}

static SERVED: RwLock<Option<Served>> = RwLock::new(None);

/// Loads the plans of `regions` (those already served stay).
pub fn serve(regions: impl IntoIterator<Item = Region>) {
    let wanted: Vec<&'static str> = regions
        .into_iter()
        .filter_map(|r| region_id(r.code()))
        .collect();
    let mut served = SERVED.write().unwrap_or_else(PoisonError::into_inner);
    let mut ids = served
        .as_ref()
        .map(|s| s.regions.clone())
        .unwrap_or_default();
    let before = ids.len();
    for id in wanted {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if served.is_some() && ids.len() == before {
        return;
    }
    let plans = ids.iter().flat_map(|id| decode(id)).collect();
    // The plans are generated from the same file as the crate's own
    // database; one that does not load leaves only the full database.
    // Their patterns are not compiled here but at their first use: a test
    // below compiles every region's ([`Database::from`] compiles each
    // pattern).
    if let Ok(database) = Database::from_trusted(plans) {
        *served = Some(Served {
            regions: ids,
            database: Arc::new(database),
        });
    }
}

/// The served plans, with `region`'s among them.
pub(crate) fn with(region: Region) -> Option<Arc<Database>> {
    if let Some(database) = served_with(region) {
        return Some(database);
    }
    serve([region]);
    served_with(region)
}

/// Every region's plans.
pub(crate) fn all() -> &'static Database {
    &DATABASE
}

/// The served plans, when they hold every region of `code`: then what
/// they say of a number with that code is what the full database says.
pub(crate) fn deciding(database: &Database, code: u16) -> bool {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .is_some_and(|(_, ids)| ids.iter().all(|id| database.by_id(*id).is_some()))
}

/// The served plans as they are.
pub(crate) fn served() -> Option<Arc<Database>> {
    SERVED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|s| s.database.clone())
}

/// The regions served so far.
pub fn regions() -> Vec<&'static str> {
    SERVED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|s| s.regions.clone())
        .unwrap_or_default()
}

fn served_with(region: Region) -> Option<Arc<Database>> {
    let served = SERVED.read().unwrap_or_else(PoisonError::into_inner);
    let served = served.as_ref()?;
    served
        .regions
        .contains(&region.code())
        .then(|| served.database.clone())
}

fn region_id(code: &str) -> Option<&'static str> {
    PLANS.iter().map(|(id, _)| *id).find(|id| *id == code)
}

fn decode(id: &str) -> Vec<loader::Metadata> {
    PLANS
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, bytes)| postcard::from_bytes(bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::PhoneNumber;
    use phonenumber::Mode;

    fn e164(n: &phonenumber::PhoneNumber, database: &Database) -> String {
        n.format_with(database).mode(Mode::E164).to_string()
    }

    /// Every region's plan, alone, reads its example numbers (national and
    /// international) exactly as the crate's full database does.
    #[test]
    fn each_region_alone_reads_its_examples_as_the_full_database_does() {
        let mut compared = 0;
        for (id, _) in PLANS.iter().filter(|(id, _)| *id != "001") {
            let plans = decode(id);
            let country: phonenumber::country::Id = id.parse().unwrap();
            let alone = Database::from(plans.clone()).unwrap();
            for plan in &plans {
                let code = plan.country_code.unwrap();
                for example in [&plan.mobile, &plan.fixed_line]
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.example.as_deref())
                {
                    for raw in [example.to_owned(), format!("+{code} {example}")] {
                        let full = phonenumber::parse(Some(country), &raw).unwrap();
                        let mine = phonenumber::parse_with(&alone, Some(country), &raw).unwrap();
                        assert_eq!(e164(&mine, &alone), e164(&full, all()), "{id} {raw}");
                        assert_eq!(mine.is_valid_with(&alone), full.is_valid(), "{id} {raw}");
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 400, "{compared}");
    }

    /// What lets [`serve`] and the crate's own database skip compiling
    /// every pattern at every cold start (`Database::from_trusted`): every
    /// region's plan as the build writes it, and the whole file the crate's
    /// database is built from, compile.
    #[test]
    fn every_plan_and_the_full_file_compile() {
        for (id, _) in PLANS {
            let plans = decode(id);
            assert!(!plans.is_empty(), "{id}");
            if let Err(e) = Database::from(plans) {
                panic!("{id}: {e}");
            }
        }
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../vendor/phonenumber/assets/PhoneNumberMetadata.xml"
        );
        let text = std::fs::read_to_string(file).unwrap();
        let full = loader::load(std::io::Cursor::new(text)).unwrap();
        assert!(full.len() > 240, "{}", full.len());
        if let Err(e) = Database::from(full) {
            panic!("{file}: {e}");
        }
    }

    #[test]
    fn numbers_outside_the_served_regions_are_read_with_every_plan() {
        serve(["TR".parse().unwrap()]);
        assert!(regions().contains(&"TR"));
        let tr: Region = "TR".parse().unwrap();
        let turkish = PhoneNumber::parse("0532 123 45 67", tr).unwrap();
        assert_eq!(turkish.as_str(), "+905321234567");
        assert_eq!(turkish.region(), Some(tr));
        // A German patient of a Turkish clinic; a Jersey number under +44,
        // whose code the served plans hold only partly.
        let german = PhoneNumber::parse("+49 151 23456789", tr).unwrap();
        assert_eq!(german.region().map(|r| r.to_string()), Some("DE".into()));
        serve(["GB".parse().unwrap()]);
        let jersey = PhoneNumber::parse("+44 7797 712345", tr).unwrap();
        assert_eq!(jersey.region().map(|r| r.to_string()), Some("JE".into()));
        assert!(PhoneNumber::parse("0532 123", tr).is_err());
        assert!(PhoneNumber::parse("hello", tr).is_err());
        let stored: PhoneNumber = serde_json::from_str("\"+905321234567\"").unwrap();
        assert_eq!(stored, turkish);
    }
}
