//! The page a patient's signed link opens (`/a/{tenant}/{token}`): the
//! appointment's time and place in their language, with buttons to
//! confirm or cancel. A link about an appointment that changed since
//! shows the current time and no buttons. An answer is queued durably,
//! like a provider's webhook, and applied once by the queue's consumer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use clinicflow_core::answer::Answer;
use clinicflow_core::ids::TenantId;
use minijinja::{AutoEscape, Environment, context};
use sha2::{Digest, Sha256};
use tracing::info;

use super::body;
use crate::App;
use crate::error::AppError;
use crate::usecases::{LinkPage, Reply};
use crate::work::Work;

/// The page's words in one language.
struct Words {
    heading: &'static str,
    confirm: &'static str,
    cancel: &'static str,
    changed: &'static str,
    cancelled: &'static str,
    confirmed: &'static str,
    cancel_done: &'static str,
    missing: &'static str,
    expired: &'static str,
}

fn words(language: &str) -> Words {
    match language {
        "tr" => Words {
            heading: "Randevunuz",
            confirm: "Onaylıyorum",
            cancel: "Gelemeyeceğim",
            changed: "Bu randevu değişti. Güncel randevunuz:",
            cancelled: "Bu randevu iptal edilmiş.",
            confirmed: "Teşekkürler, yanıtınızı aldık: randevunuz onaylandı.",
            cancel_done: "Yanıtınızı aldık: randevunuzu iptal ediyoruz. Yeni bir zaman için bize yazabilirsiniz.",
            missing: "Bu bağlantı geçerli değil.",
            expired: "Bu bağlantının süresi doldu.",
        },
        "ru" => Words {
            heading: "Ваша запись",
            confirm: "Подтверждаю",
            cancel: "Не смогу прийти",
            changed: "Запись изменилась. Сейчас она:",
            cancelled: "Эта запись отменена.",
            confirmed: "Спасибо, ваш ответ получен: запись подтверждена.",
            cancel_done: "Ваш ответ получен: мы отменяем запись. Напишите нам, чтобы выбрать новое время.",
            missing: "Эта ссылка недействительна.",
            expired: "Срок действия ссылки истёк.",
        },
        "de" => Words {
            heading: "Ihr Termin",
            confirm: "Bestätigen",
            cancel: "Absagen",
            changed: "Dieser Termin hat sich geändert. Er ist jetzt:",
            cancelled: "Dieser Termin wurde abgesagt.",
            confirmed: "Danke, Ihre Antwort ist angekommen: Der Termin ist bestätigt.",
            cancel_done: "Ihre Antwort ist angekommen: Wir sagen den Termin ab. Schreiben Sie uns für einen neuen.",
            missing: "Dieser Link ist nicht gültig.",
            expired: "Dieser Link ist abgelaufen.",
        },
        "ar" => Words {
            heading: "موعدك",
            confirm: "تأكيد",
            cancel: "لا أستطيع الحضور",
            changed: "تغير هذا الموعد. موعدك الحالي:",
            cancelled: "تم إلغاء هذا الموعد.",
            confirmed: "شكراً، وصلنا ردك: تم تأكيد موعدك.",
            cancel_done: "وصلنا ردك: سنلغي موعدك. راسلنا لتحديد موعد جديد.",
            missing: "هذا الرابط غير صالح.",
            expired: "انتهت صلاحية هذا الرابط.",
        },
        _ => Words {
            heading: "Your appointment",
            confirm: "Confirm",
            cancel: "I cannot come",
            changed: "This appointment has changed. It is now:",
            cancelled: "This appointment was cancelled.",
            confirmed: "Thank you, we have your answer: the appointment is confirmed.",
            cancel_done: "We have your answer: we are cancelling the appointment. Write to us for a new time.",
            missing: "This link is not valid.",
            expired: "This link has expired.",
        },
    }
}

const PAGE: &str = r#"<!doctype html>
<html lang="{{ lang }}"{% if lang == "ar" %} dir="rtl"{% endif %}>
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ clinic }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
button{font-size:1.1rem;padding:.7rem 1.2rem;margin:.3rem .3rem 0 0;border-radius:.5rem;border:1px solid #888}</style></head>
<body><h1>{{ clinic }}</h1>
{% if note %}<p>{{ note }}</p>{% endif %}
{% if when %}<h2>{{ heading }}</h2><p><strong>{{ when }}</strong><br>{{ place }}</p>{% endif %}
{% if buttons %}<form method="post">
<button name="answer" value="confirm">{{ confirm }}</button>
<button name="answer" value="cancel">{{ cancel }}</button>
</form>{% endif %}
</body></html>
"#;

fn render(lang: &str, vars: minijinja::Value) -> Response {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    let page = env
        .template_from_str(PAGE)
        .and_then(|t| t.render(context! { lang, ..vars }));
    match page {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "").into_response(),
    }
}

/// A page with just a sentence, for a link that opens nothing.
fn note(status: StatusCode, lang: &str, clinic: &str, text: &str) -> Response {
    let mut response = render(lang, context! { clinic, note => text });
    *response.status_mut() = status;
    response
}

async fn page_of(app: &App, tenant: &str, token: &str) -> Result<LinkPage, Response> {
    let missing =
        |clinic: &str, lang: &str| note(StatusCode::NOT_FOUND, lang, clinic, words(lang).missing);
    let Some(tenant) = TenantId::new(tenant)
        .ok()
        .and_then(|t| app.directory.tenant(&t))
        .cloned()
    else {
        return Err(missing("", "en"));
    };
    let lang = tenant.default_language.to_string();
    app.link_page(&tenant, token).await.map_err(|e| match e {
        AppError::Conflict(_) => note(StatusCode::GONE, &lang, &tenant.name, words(&lang).expired),
        AppError::NotFound(_) => missing(&tenant.name, &lang),
        other => super::error::ApiError::from(other).into_response(),
    })
}

/// `GET /a/{tenant}/{token}`: the appointment, and buttons to answer.
#[utoipa::path(
    get,
    path = "/a/{tenant}/{token}",
    tag = "links",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("token" = String, Path, description = "The link's token, from the patient's message"),
    ),
    responses(
        (status = 200, description = "The appointment, with confirm and cancel buttons while it is current", content_type = "text/html", body = String),
        (status = 404, description = "No such link", content_type = "text/html", body = String),
        (status = 410, description = "The link has expired", content_type = "text/html", body = String),
    ),
)]
pub async fn show(
    State(app): State<Arc<App>>,
    super::PathPair(tenant, token): super::PathPair,
) -> Response {
    let page = match page_of(&app, &tenant, &token).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let lang = page.appointment.booking.patient.language.to_string();
    let w = words(&lang);
    let cancelled =
        page.appointment.status() == clinicflow_core::appointment::AppointmentStatus::Cancelled;
    let changed = !page.current;
    render(
        &lang,
        context! {
            clinic => page.clinic,
            heading => w.heading,
            note => if cancelled { w.cancelled } else if changed { w.changed } else { "" },
            when => if cancelled { String::new() } else { format!("{} {}", page.date, page.time) },
            place => format!("{}, {}", page.branch, page.practitioner),
            buttons => page.current,
            confirm => w.confirm,
            cancel => w.cancel,
        },
    )
}

/// `POST /a/{tenant}/{token}` with `answer=confirm|cancel`: queued durably,
/// applied once.
#[utoipa::path(
    post,
    path = "/a/{tenant}/{token}",
    tag = "links",
    params(
        ("tenant" = String, Path, description = "The clinic chain's id"),
        ("token" = String, Path, description = "The link's token, from the patient's message"),
    ),
    request_body(content = AnswerForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Answer queued; a page says so (or the appointment changed meanwhile, and the page shows it now)", content_type = "text/html", body = String),
        (status = 400, description = "No `answer` of `confirm` or `cancel`", content_type = "text/html", body = String),
        (status = 404, description = "No such link", content_type = "text/html", body = String),
        (status = 410, description = "The link has expired", content_type = "text/html", body = String),
    ),
)]
pub async fn answer(
    State(app): State<Arc<App>>,
    super::PathPair(tenant, token): super::PathPair,
    body: Body,
) -> Response {
    let page = match page_of(&app, &tenant, &token).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let lang = page.appointment.booking.patient.language.to_string();
    let w = words(&lang);
    let bytes = match body::read(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let answer = fields
        .iter()
        .find(|(k, _)| k == "answer")
        .and_then(|(_, v)| Answer::parse(v))
        .filter(|a| matches!(a, Answer::Confirm | Answer::Cancel));
    let Some(answer) = answer else {
        return note(StatusCode::BAD_REQUEST, &lang, &page.clinic, w.missing);
    };
    if !page.current {
        return show(State(app), super::PathPair(tenant, token)).await;
    }
    let digest = Sha256::digest(token.as_bytes());
    let work = Work::Answer {
        tenant: page.tenant.clone(),
        appointment: page.appointment.id.clone(),
        version: page.version,
        reply: Reply::Answer(answer),
        key: format!("link:{}:{}", hex::encode(&digest[..12]), answer.as_str()),
    };
    if let Err(e) = app.store.write(vec![work.enqueue()]).await {
        return super::error::ApiError::from(AppError::Unavailable(e.to_string())).into_response();
    }
    info!(tenant = %page.tenant, appointment = %page.appointment.id, answer = answer.as_str(), "answer by link queued");
    let said = match answer {
        Answer::Cancel => w.cancel_done,
        _ => w.confirmed,
    };
    note(StatusCode::OK, &lang, &page.clinic, said)
}

/// The form the link page's buttons post (documented here; the handler
/// reads the field itself and answers a page, not a JSON error).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AnswerForm {
    answer: AnswerChoice,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum AnswerChoice {
    Confirm,
    Cancel,
}
