//! The preview's cost estimate, from the tenant's price table.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::BlastPolicy;
use crate::message::{Channel, Purpose};

/// One line of the cost estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub channel: Channel,
    /// ISO 3166, or `*` for a country the table prices as any other.
    pub country: String,
    pub messages: u32,
    /// `None` when the price table has no price for it.
    pub unit_price: Option<f64>,
    pub total: Option<f64>,
}

/// The estimate, from the tenant's price table of `prices_as_of`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub currency: Option<String>,
    pub prices_as_of: Option<Date>,
    pub lines: Vec<CostLine>,
    pub total: f64,
}

impl Cost {
    /// Prices each recipient's channel and country; free-form messages in
    /// an open WhatsApp window cost nothing for operational blasts.
    pub fn estimate(
        policy: &BlastPolicy,
        purpose: Purpose,
        rows: &[(Channel, Option<String>, bool)],
    ) -> Cost {
        let mut count: BTreeMap<(Channel, String), (u32, u32)> = BTreeMap::new();
        for (channel, country, template) in rows {
            let key = (*channel, country.clone().unwrap_or_else(|| "*".into()));
            let entry = count.entry(key).or_default();
            entry.0 += 1;
            // WhatsApp bills templates; a utility message inside the
            // window is free, a marketing one never is.
            let billed =
                *channel != Channel::Whatsapp || *template || purpose == Purpose::Promotional;
            if billed {
                entry.1 += 1;
            }
        }
        let mut cost = Cost {
            currency: policy.prices.as_ref().map(|p| p.currency.clone()),
            prices_as_of: policy.prices.as_ref().map(|p| p.as_of),
            ..Cost::default()
        };
        for ((channel, country), (messages, billed)) in count {
            let unit = policy.price(channel, Some(country.as_str()), purpose);
            let total = unit.map(|u| (u * f64::from(billed) * 10_000.0).round() / 10_000.0);
            cost.total += total.unwrap_or(0.0);
            cost.lines.push(CostLine {
                channel,
                country,
                messages,
                unit_price: unit,
                total,
            });
        }
        cost.total = (cost.total * 10_000.0).round() / 10_000.0;
        cost
    }
}
