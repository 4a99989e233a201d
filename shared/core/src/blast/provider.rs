//! What a provider's error code means for a blast.

/// What a provider's error code on one blast message means for the blast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Too fast: slow down, send it again later; the recipient waits.
    SlowDown,
    /// The sender or template is restricted: pause the whole blast.
    Pause,
    /// The template does not exist: fail the blast.
    Fail,
    /// This patient is skipped (Meta's per-user marketing cap): not an opt-out.
    Skip,
    /// The patient stopped promotional messages: record the opt-out.
    OptOut,
    /// An ordinary failure of this one message.
    Failed,
}

/// WhatsApp's and Twilio's codes (the provider's code as we record it).
pub fn effect(code: &str) -> Effect {
    match code {
        "130429" | "131056" | "20429" | "429" => Effect::SlowDown,
        "131048" | "132015" | "132016" => Effect::Pause,
        "132001" => Effect::Fail,
        "131049" => Effect::Skip,
        "131050" => Effect::OptOut,
        _ => Effect::Failed,
    }
}

/// Why a blast paused or failed, for staff, from the code that did it.
pub fn explain(code: &str) -> &'static str {
    match code {
        "131048" => {
            "WhatsApp restricted the number for spam (too many blocks or reports); check the number's quality in WhatsApp Manager before resuming"
        }
        "132015" => "WhatsApp paused the template for low quality; resume when it is active again",
        "132016" => "WhatsApp disabled the template for low quality; use another template",
        "132001" => "the WhatsApp template does not exist in this language; nothing more is sent",
        "131049" => {
            "Meta did not deliver it to keep the patient's marketing messages healthy (a per-user cap); not an opt-out"
        }
        "131050" => "the patient stopped marketing messages on WhatsApp; recorded as an opt-out",
        _ => "the provider refused it",
    }
}
