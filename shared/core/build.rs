//! Splits Google's phone-number metadata by region, so a process loads the
//! numbering plans of the regions it serves instead of all of them (the
//! `phonenumber` crate's database compiles every region's patterns, about
//! 0.1 s, at its first use). It reads the very file the crate is built from
//! (`vendor/phonenumber/assets/PhoneNumberMetadata.xml`, libphonenumber
//! 9.0.33, Apache-2.0); `phone_plans::tests` check both agree.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::Path;

fn main() {
    let source = "../../vendor/phonenumber/assets/PhoneNumberMetadata.xml";
    println!("cargo:rerun-if-changed={source}");
    let file = std::fs::File::open(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let regions = phonenumber::metadata::loader::load(BufReader::new(file))
        .unwrap_or_else(|e| panic!("{source}: {e}"));
    // Several entries share an id (`001`, the non-geographic codes).
    let mut by_id: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for mut region in regions {
        ascii_digits(&mut region);
        let id = region
            .id
            .clone()
            .unwrap_or_else(|| panic!("{source}: a region without id"));
        by_id.entry(id).or_default().push(region);
    }
    let out = std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"));
    let mut index = String::from("/// Each region's numbering plans, postcard-encoded.\n");
    index.push_str("pub(crate) static PLANS: &[(&str, &[u8])] = &[\n");
    for (id, plans) in &by_id {
        let bytes = postcard::to_stdvec(plans).unwrap_or_else(|e| panic!("{id}: {e}"));
        let name = format!("phone-{id}.bin");
        std::fs::write(Path::new(&out).join(&name), bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        index.push_str(&format!(
            "    ({id:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}\"))),\n"
        ));
    }
    index.push_str("];\n");
    // Which regions share each country calling code (+1, +7, +44, …).
    let mut by_code: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for (id, plans) in &by_id {
        for plan in plans {
            let code = plan
                .country_code
                .unwrap_or_else(|| panic!("{id}: no country code"));
            let ids = by_code.entry(code).or_default();
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
    }
    index.push_str("/// The regions of each country calling code.\n");
    index.push_str("pub(crate) static CODES: &[(u16, &[&str])] = &[\n");
    for (code, ids) in &by_code {
        index.push_str(&format!("    ({code}, &{ids:?}),\n"));
    }
    index.push_str("];\n");
    let mut file = std::fs::File::create(Path::new(&out).join("phone_plans.rs"))
        .unwrap_or_else(|e| panic!("phone_plans.rs: {e}"));
    file.write_all(index.as_bytes())
        .unwrap_or_else(|e| panic!("phone_plans.rs: {e}"));
}

/// `\\d` as `[0-9]` in every pattern. The patterns only ever meet ASCII
/// digits (a national number is read into an integer first), and the
/// `regex` crate compiles Unicode's `\\d`, hundreds of ranges, into every
/// pattern that uses it: most of the time a region's first number takes.
fn ascii_digits(region: &mut phonenumber::metadata::loader::Metadata) {
    fn fix(pattern: &mut Option<String>) {
        if let Some(p) = pattern {
            *p = p.replace("\\d", "[0-9]");
        }
    }
    fn descriptor(d: &mut Option<phonenumber::metadata::loader::Descriptor>) {
        if let Some(d) = d {
            fix(&mut d.national_number);
        }
    }
    for d in [
        &mut region.general,
        &mut region.fixed_line,
        &mut region.mobile,
        &mut region.toll_free,
        &mut region.premium_rate,
        &mut region.shared_cost,
        &mut region.personal_number,
        &mut region.voip,
        &mut region.pager,
        &mut region.uan,
        &mut region.emergency,
        &mut region.voicemail,
        &mut region.short_code,
        &mut region.standard_rate,
        &mut region.carrier,
        &mut region.no_international,
    ] {
        descriptor(d);
    }
    fix(&mut region.international_prefix);
    fix(&mut region.national_prefix_for_parsing);
    fix(&mut region.leading_digits);
    for format in region
        .formats
        .iter_mut()
        .chain(region.international_formats.iter_mut())
    {
        fix(&mut format.pattern);
        for leading in &mut format.leading_digits {
            *leading = leading.replace("\\d", "[0-9]");
        }
    }
}
