//! The vendored `phonenumber` (vendor/phonenumber) reads every number as
//! the crate as published does: its ASCII twins of the parsing expressions,
//! its unchecked plans and its anchored number-type patterns change how
//! fast a process's first number is read, never what a number is read as.

#![allow(clippy::unwrap_used)]

use phonenumber::metadata::loader;

/// What a parse gave, in a form both crates' results compare in (their
/// types differ, their methods do not).
macro_rules! outcome {
    ($krate:ident, $result:expr) => {
        match $result {
            Ok(n) => format!(
                "+{} {} ext={:?} carrier={:?} valid={} type={:?}",
                n.code().value(),
                n.national(),
                n.extension().map(|e| e.to_string()),
                n.carrier().map(|c| c.to_string()),
                n.is_valid(),
                n.number_type(&$krate::metadata::DATABASE)
            ),
            Err(e) => format!("error {e:?}"),
        }
    };
}

fn assert_same(region: Option<&str>, raw: &str) {
    let ours = outcome!(
        phonenumber,
        phonenumber::parse(region.map(|r| r.parse().unwrap()), raw)
    );
    let theirs = outcome!(
        phonenumber_upstream,
        phonenumber_upstream::parse(region.map(|r| r.parse().unwrap()), raw)
    );
    assert_eq!(ours, theirs, "region {region:?}, input {raw:?}");
}

/// Every region's example numbers of every type, written the ways people
/// and systems write them — national and international, spaced, dashed,
/// bracketed, with extensions, leading words and trailing punctuation —
/// and a few in other scripts' digits, read with the region, with another
/// region and with none.
#[test]
fn every_regions_examples_read_as_the_published_crate_reads_them() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../vendor/phonenumber/assets/PhoneNumberMetadata.xml"
    );
    let text = std::fs::read_to_string(file).unwrap();
    let regions = loader::load(std::io::Cursor::new(text)).unwrap();
    let mut compared = 0;
    for plan in &regions {
        let (Some(id), Some(code)) = (plan.id.as_deref(), plan.country_code) else {
            continue;
        };
        let region = (id != "001").then_some(id);
        let examples = [
            &plan.mobile,
            &plan.fixed_line,
            &plan.toll_free,
            &plan.premium_rate,
            &plan.shared_cost,
            &plan.personal_number,
            &plan.voip,
            &plan.pager,
            &plan.uan,
            &plan.voicemail,
        ]
        .into_iter()
        .flatten()
        .filter_map(|d| d.example.as_deref());
        for example in examples {
            let spaced: String = example
                .chars()
                .enumerate()
                .flat_map(|(i, c)| (i > 0 && i % 3 == 0).then_some(' ').into_iter().chain([c]))
                .collect();
            let national = plan
                .national_prefix
                .as_deref()
                .map(|p| format!("{p}{example}"))
                .unwrap_or_else(|| example.to_owned());
            let (head, tail) = example.split_at(example.len().min(3));
            let arabic_indic: String = example
                .chars()
                .map(|c| {
                    c.to_digit(10)
                        .map_or(c, |d| char::from_u32(0x0660 + d).unwrap_or(c))
                })
                .collect();
            let written = [
                example.to_owned(),
                national.clone(),
                spaced.clone(),
                format!("+{code}{example}"),
                format!("+{code} {spaced}"),
                format!("00{code}{example}"),
                format!("({head}) {tail}"),
                format!("{head}-{tail}"),
                format!("{head}.{tail}"),
                format!("{national} ext. 123"),
                format!("{national} x45"),
                format!("+{code} {example};ext=7"),
                format!("{national} - 12#"),
                format!("Tel: +{code} {spaced}."),
                format!("call {national} today!"),
                format!("{national}/x2"),
                format!("tel:+{code}-{example}"),
                format!("＋{code} {example}"),
                arabic_indic,
            ];
            for raw in &written {
                for r in [region, Some("TR"), None] {
                    assert_same(r, raw);
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 20_000, "{compared}");
}

/// Text that is only partly a phone number: random ASCII strings over the
/// characters the parsing expressions care about (digits, plus signs,
/// separators, the letters of `ext`, `x`, `int` and `anexo`, `#`, `;`,
/// `=`), seeded, read with a few regions and none.
#[test]
fn random_ascii_text_reads_as_the_published_crate_reads_it() {
    let alphabet: Vec<char> = "0123456789000555+ ()-./#;=,~:xXeEtTnNsSiIoOaA!?*\t"
        .chars()
        .collect();
    let mut rng = fastrand::Rng::with_seed(13);
    for _ in 0..20_000 {
        let len = rng.usize(1..24);
        let raw: String = (0..len)
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        let region = ["TR", "RU", "DE", "US", "GB", "BR"][rng.usize(..6)];
        assert_same(Some(region), &raw);
        assert_same(None, &raw);
    }
}
