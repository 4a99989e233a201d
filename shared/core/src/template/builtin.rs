//! The built-in texts, per kind and language (tr, en, ru, de, ar). A tenant
//! replaces any of them in its configuration.

use super::TemplateKind;

pub(super) fn texts(kind: TemplateKind) -> &'static [(&'static str, &'static str)] {
    use TemplateKind::*;
    match kind {
        Greeting => GREETING,
        SlaAlert => SLA_ALERT,
        InboundNotice => INBOUND_NOTICE,
        Reply | Blast => REPLY,
        AppointmentConfirmation => CONFIRMATION,
        AppointmentNudge => NUDGE,
        AppointmentReminder => REMINDER,
        NoShowRecovery1 => NO_SHOW_1,
        NoShowRecovery2 => NO_SHOW_2,
        NoShowRecovery3 => NO_SHOW_3,
        Aftercare => AFTERCARE,
        Survey => SURVEY,
        AnswerConfirmed => ANSWER_CONFIRMED,
        AnswerCancelled => ANSWER_CANCELLED,
        AnswerReschedule => ANSWER_RESCHEDULE,
        AnswerChanged => ANSWER_CHANGED,
        SurveyThanks => SURVEY_THANKS,
        AppointmentNotice => APPOINTMENT_NOTICE,
        SchedulerCallback => SCHEDULER_CALLBACK,
        LanguageQuestion => LANGUAGE_QUESTION,
    }
}

const GREETING: &[(&str, &str)] = &[
    (
        "tr",
        "Merhaba{% if first_name %} {{ first_name }}{% endif %}, {{ clinic }} olarak talebinizi aldık. {{ consultant }} {% if call_time %}sizi {{ call_time }} arayacak{% else %}kısa süre içinde sizi arayacak{% endif %}.",
    ),
    (
        "en",
        "Hello{% if first_name %} {{ first_name }}{% endif %}, thank you for contacting {{ clinic }}. {{ consultant }} will call you back {% if call_time %}{{ call_time }}{% else %}shortly{% endif %}.",
    ),
    (
        "ru",
        "Здравствуйте{% if first_name %}, {{ first_name }}{% endif %}! {{ clinic }} получила вашу заявку. {{ consultant }} {% if call_time %}перезвонит вам {{ call_time }}{% else %}скоро вам перезвонит{% endif %}.",
    ),
    (
        "de",
        "Hallo{% if first_name %} {{ first_name }}{% endif %}, vielen Dank für Ihre Anfrage bei {{ clinic }}. {{ consultant }} ruft Sie {% if call_time %}{{ call_time }}{% else %}in Kürze{% endif %} zurück.",
    ),
    (
        "ar",
        "مرحباً{% if first_name %} {{ first_name }}{% endif %}، شكراً لتواصلك مع {{ clinic }}. سيتصل بك {{ consultant }} {% if call_time %}{{ call_time }}{% else %}قريباً{% endif %}.",
    ),
];

const SLA_ALERT: &[(&str, &str)] = &[
    (
        "tr",
        "{{ manager }}, {{ branch }} şubesindeki {{ lead_id }} numaralı talebe {{ waited_minutes }} dakikadır dönülmedi (sorumlu: {{ consultant }}).",
    ),
    (
        "en",
        "{{ manager }}, lead {{ lead_id }} at {{ branch }} has had no contact for {{ waited_minutes }} minutes (owner: {{ consultant }}).",
    ),
    (
        "ru",
        "{{ manager }}, по заявке {{ lead_id }} ({{ branch }}) нет контакта уже {{ waited_minutes }} мин. (ответственный: {{ consultant }}).",
    ),
    (
        "de",
        "{{ manager }}, bei der Anfrage {{ lead_id }} ({{ branch }}) gab es seit {{ waited_minutes }} Minuten keinen Kontakt (zuständig: {{ consultant }}).",
    ),
    (
        "ar",
        "{{ manager }}، لم يتم التواصل مع الطلب {{ lead_id }} في {{ branch }} منذ {{ waited_minutes }} دقيقة (المسؤول: {{ consultant }}).",
    ),
];

const INBOUND_NOTICE: &[(&str, &str)] = &[
    (
        "tr",
        "{{ consultant }}, {{ patient }} {{ channel }} üzerinden yazdı (talep {{ lead_id }}).",
    ),
    (
        "en",
        "{{ consultant }}, {{ patient }} wrote on {{ channel }} (lead {{ lead_id }}).",
    ),
    (
        "ru",
        "{{ consultant }}, {{ patient }} написал(а) в {{ channel }} (заявка {{ lead_id }}).",
    ),
    (
        "de",
        "{{ consultant }}, {{ patient }} hat über {{ channel }} geschrieben (Anfrage {{ lead_id }}).",
    ),
    (
        "ar",
        "{{ consultant }}، كتب {{ patient }} عبر {{ channel }} (الطلب {{ lead_id }}).",
    ),
];

const REPLY: &[(&str, &str)] = &[
    ("tr", "{{ text }}"),
    ("en", "{{ text }}"),
    ("ru", "{{ text }}"),
    ("de", "{{ text }}"),
    ("ar", "{{ text }}"),
];

const CONFIRMATION: &[(&str, &str)] = &[
    (
        "tr",
        "Merhaba{% if first_name %} {{ first_name }}{% endif %}, {{ date }} saat {{ time }} için {{ branch }} şubemizde {{ practitioner }} ile randevunuz var. Gelebilecek misiniz? 1 = Onaylıyorum, 2 = Değiştirmek istiyorum, 3 = Gelemeyeceğim.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "en",
        "Hello{% if first_name %} {{ first_name }}{% endif %}, you have an appointment with {{ practitioner }} at {{ branch }} on {{ date }} at {{ time }}. Will you come? Reply 1 to confirm, 2 to change the time, 3 if you cannot come.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "ru",
        "Здравствуйте{% if first_name %}, {{ first_name }}{% endif %}! Вы записаны к {{ practitioner }} ({{ branch }}) на {{ date }} в {{ time }}. Ответьте 1 — подтверждаю, 2 — хочу перенести, 3 — не смогу прийти.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "de",
        "Hallo{% if first_name %} {{ first_name }}{% endif %}, Sie haben am {{ date }} um {{ time }} einen Termin bei {{ practitioner }} in {{ branch }}. Antworten Sie 1 zum Bestätigen, 2 zum Verschieben, 3 wenn Sie nicht kommen können.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "ar",
        "مرحباً{% if first_name %} {{ first_name }}{% endif %}، لديك موعد مع {{ practitioner }} في {{ branch }} يوم {{ date }} الساعة {{ time }}. أرسل 1 للتأكيد، 2 لتغيير الموعد، 3 إذا لم تتمكن من الحضور.{% if link %} {{ link }}{% endif %}",
    ),
];

const NUDGE: &[(&str, &str)] = &[
    (
        "tr",
        "{% if first_name %}{{ first_name }}, {% endif %}{{ date }} saat {{ time }} randevunuzu ({{ branch }}) henüz onaylamadınız. 1 = Onaylıyorum, 2 = Değiştirmek istiyorum, 3 = Gelemeyeceğim.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "en",
        "{% if first_name %}{{ first_name }}, {% endif %}please confirm your appointment on {{ date }} at {{ time }} ({{ branch }}). Reply 1 to confirm, 2 to change the time, 3 if you cannot come.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "ru",
        "{% if first_name %}{{ first_name }}, {% endif %}пожалуйста, подтвердите запись на {{ date }} в {{ time }} ({{ branch }}). Ответьте 1 — подтверждаю, 2 — перенести, 3 — не смогу прийти.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "de",
        "{% if first_name %}{{ first_name }}, {% endif %}bitte bestätigen Sie Ihren Termin am {{ date }} um {{ time }} ({{ branch }}). Antworten Sie 1 zum Bestätigen, 2 zum Verschieben, 3 wenn Sie nicht kommen können.{% if link %} {{ link }}{% endif %}",
    ),
    (
        "ar",
        "{% if first_name %}{{ first_name }}، {% endif %}يرجى تأكيد موعدك يوم {{ date }} الساعة {{ time }} ({{ branch }}). أرسل 1 للتأكيد، 2 للتغيير، 3 إذا لم تتمكن من الحضور.{% if link %} {{ link }}{% endif %}",
    ),
];

const REMINDER: &[(&str, &str)] = &[
    (
        "tr",
        "Hatırlatma: {{ date }} saat {{ time }} {{ branch }} şubemizdeki randevunuza az kaldı.{% if address %} Adres: {{ address }}.{% endif %}{% if map_link %} Harita: {{ map_link }}{% endif %}",
    ),
    (
        "en",
        "Reminder: your appointment at {{ branch }} is coming up at {{ time }} ({{ date }}).{% if address %} Address: {{ address }}.{% endif %}{% if map_link %} Map: {{ map_link }}{% endif %}",
    ),
    (
        "ru",
        "Напоминаем: ваш приём в {{ branch }} скоро — {{ date }} в {{ time }}.{% if address %} Адрес: {{ address }}.{% endif %}{% if map_link %} Карта: {{ map_link }}{% endif %}",
    ),
    (
        "de",
        "Erinnerung: Ihr Termin in {{ branch }} ist bald, am {{ date }} um {{ time }}.{% if address %} Adresse: {{ address }}.{% endif %}{% if map_link %} Karte: {{ map_link }}{% endif %}",
    ),
    (
        "ar",
        "تذكير: موعدك في {{ branch }} قريب، يوم {{ date }} الساعة {{ time }}.{% if address %} العنوان: {{ address }}.{% endif %}{% if map_link %} الخريطة: {{ map_link }}{% endif %}",
    ),
];

const NO_SHOW_1: &[(&str, &str)] = &[
    (
        "tr",
        "Merhaba{% if first_name %} {{ first_name }}{% endif %}, randevunuzda sizi göremedik. Umarız her şey yolundadır. Yeni bir zaman için bu mesaja yanıt vermeniz yeterli.",
    ),
    (
        "en",
        "Hello{% if first_name %} {{ first_name }}{% endif %}, we missed you at your appointment and hope all is well. Reply to this message and we will find you a new time.",
    ),
    (
        "ru",
        "Здравствуйте{% if first_name %}, {{ first_name }}{% endif %}! Мы не дождались вас на приёме. Надеемся, всё в порядке. Ответьте на это сообщение, и мы подберём новое время.",
    ),
    (
        "de",
        "Hallo{% if first_name %} {{ first_name }}{% endif %}, wir haben Sie bei Ihrem Termin vermisst und hoffen, es geht Ihnen gut. Antworten Sie einfach, dann finden wir einen neuen Termin.",
    ),
    (
        "ar",
        "مرحباً{% if first_name %} {{ first_name }}{% endif %}، افتقدناك في موعدك ونتمنى أن تكون بخير. رد على هذه الرسالة وسنجد لك موعداً جديداً.",
    ),
];

const NO_SHOW_2: &[(&str, &str)] = &[
    (
        "tr",
        "{% if first_name %}{{ first_name }}, {% endif %}{{ service }} için size uygun yeni bir zaman seçebilirsiniz{% if booking_link %}: {{ booking_link }}{% else %}; bu mesaja yanıt vermeniz yeterli{% endif %}.",
    ),
    (
        "en",
        "{% if first_name %}{{ first_name }}, {% endif %}you can pick a new time for your {{ service }} whenever it suits you{% if booking_link %}: {{ booking_link }}{% else %}: just reply to this message{% endif %}.",
    ),
    (
        "ru",
        "{% if first_name %}{{ first_name }}, {% endif %}выберите новое удобное время для визита ({{ service }}){% if booking_link %}: {{ booking_link }}{% else %} — просто ответьте на это сообщение{% endif %}.",
    ),
    (
        "de",
        "{% if first_name %}{{ first_name }}, {% endif %}wählen Sie einen neuen Termin für {{ service }}, wann es Ihnen passt{% if booking_link %}: {{ booking_link }}{% else %} – antworten Sie einfach auf diese Nachricht{% endif %}.",
    ),
    (
        "ar",
        "{% if first_name %}{{ first_name }}، {% endif %}يمكنك اختيار موعد جديد لـ {{ service }} في الوقت الذي يناسبك{% if booking_link %}: {{ booking_link }}{% else %}، فقط رد على هذه الرسالة{% endif %}.",
    ),
];

const NO_SHOW_3: &[(&str, &str)] = &[
    (
        "tr",
        "{% if first_name %}{{ first_name }}, {% endif %}{{ clinic }} olarak sizi tekrar görmek isteriz. Randevu için bize yazmanız yeterli{% if branch_phone %} ya da {{ branch_phone }} numarasını arayabilirsiniz{% endif %}. Bu konudaki son mesajımız bu.",
    ),
    (
        "en",
        "{% if first_name %}{{ first_name }}, {% endif %}we would love to see you at {{ clinic }}. Write to us{% if branch_phone %} or call {{ branch_phone }}{% endif %} whenever you want a new appointment. This is our last reminder about it.",
    ),
    (
        "ru",
        "{% if first_name %}{{ first_name }}, {% endif %}{{ clinic }} будет рада видеть вас снова. Напишите нам{% if branch_phone %} или позвоните по номеру {{ branch_phone }}{% endif %}, когда захотите записаться. Больше мы не будем напоминать об этом.",
    ),
    (
        "de",
        "{% if first_name %}{{ first_name }}, {% endif %}wir würden Sie gern bei {{ clinic }} wiedersehen. Schreiben Sie uns{% if branch_phone %} oder rufen Sie {{ branch_phone }} an{% endif %}, wenn Sie einen neuen Termin möchten. Dies ist unsere letzte Erinnerung daran.",
    ),
    (
        "ar",
        "{% if first_name %}{{ first_name }}، {% endif %}يسعدنا أن نراك مجدداً في {{ clinic }}. راسلنا{% if branch_phone %} أو اتصل على {{ branch_phone }}{% endif %} متى أردت موعداً جديداً. هذه آخر رسالة تذكير منا بهذا الشأن.",
    ),
];

const AFTERCARE: &[(&str, &str)] = &[
    (
        "tr",
        "Geçmiş olsun{% if first_name %} {{ first_name }}{% endif %}!{% if aftercare %} {{ service }} sonrası için: {{ aftercare }}{% endif %} Bir sorunuz olursa bize yazabilirsiniz{% if branch_phone %} ya da {{ branch_phone }} numarasını arayabilirsiniz{% endif %}.",
    ),
    (
        "en",
        "Thank you for visiting us{% if first_name %}, {{ first_name }}{% endif %}!{% if aftercare %} After your {{ service }}: {{ aftercare }}{% endif %} If you have any questions, write to us{% if branch_phone %} or call {{ branch_phone }}{% endif %}.",
    ),
    (
        "ru",
        "Спасибо за визит{% if first_name %}, {{ first_name }}{% endif %}!{% if aftercare %} После процедуры ({{ service }}): {{ aftercare }}{% endif %} Если появятся вопросы, напишите нам{% if branch_phone %} или позвоните: {{ branch_phone }}{% endif %}.",
    ),
    (
        "de",
        "Danke für Ihren Besuch{% if first_name %}, {{ first_name }}{% endif %}!{% if aftercare %} Nach {{ service }}: {{ aftercare }}{% endif %} Bei Fragen schreiben Sie uns{% if branch_phone %} oder rufen Sie {{ branch_phone }} an{% endif %}.",
    ),
    (
        "ar",
        "شكراً لزيارتك{% if first_name %} {{ first_name }}{% endif %}!{% if aftercare %} بعد {{ service }}: {{ aftercare }}{% endif %} إذا كان لديك أي سؤال راسلنا{% if branch_phone %} أو اتصل على {{ branch_phone }}{% endif %}.",
    ),
];

const SURVEY: &[(&str, &str)] = &[
    (
        "tr",
        "{% if first_name %}{{ first_name }}, {% endif %}ziyaretinizi {{ scale_min }} (kötü) ile {{ scale_max }} (çok iyi) arasında puanlar mısınız? Yalnızca rakamı yazmanız yeterli.",
    ),
    (
        "en",
        "{% if first_name %}{{ first_name }}, {% endif %}how was your visit? Reply with a number from {{ scale_min }} (poor) to {{ scale_max }} (excellent).",
    ),
    (
        "ru",
        "{% if first_name %}{{ first_name }}, {% endif %}оцените, пожалуйста, ваш визит: ответьте числом от {{ scale_min }} (плохо) до {{ scale_max }} (отлично).",
    ),
    (
        "de",
        "{% if first_name %}{{ first_name }}, {% endif %}wie war Ihr Besuch? Antworten Sie mit einer Zahl von {{ scale_min }} (schlecht) bis {{ scale_max }} (ausgezeichnet).",
    ),
    (
        "ar",
        "{% if first_name %}{{ first_name }}، {% endif %}كيف كانت زيارتك؟ أرسل رقماً من {{ scale_min }} (سيئة) إلى {{ scale_max }} (ممتازة).",
    ),
];

const ANSWER_CONFIRMED: &[(&str, &str)] = &[
    (
        "tr",
        "Teşekkürler{% if first_name %} {{ first_name }}{% endif %}, {{ date }} saat {{ time }} randevunuz onaylandı. Görüşmek üzere!",
    ),
    (
        "en",
        "Thank you{% if first_name %}, {{ first_name }}{% endif %}: your appointment on {{ date }} at {{ time }} is confirmed. See you then!",
    ),
    (
        "ru",
        "Спасибо{% if first_name %}, {{ first_name }}{% endif %}! Ваша запись на {{ date }} в {{ time }} подтверждена. До встречи!",
    ),
    (
        "de",
        "Danke{% if first_name %}, {{ first_name }}{% endif %}! Ihr Termin am {{ date }} um {{ time }} ist bestätigt. Bis bald!",
    ),
    (
        "ar",
        "شكراً{% if first_name %} {{ first_name }}{% endif %}، تم تأكيد موعدك يوم {{ date }} الساعة {{ time }}. نراك قريباً!",
    ),
];

const ANSWER_CANCELLED: &[(&str, &str)] = &[
    (
        "tr",
        "{{ date }} saat {{ time }} randevunuzu iptal ettik. Yeni bir zaman için istediğiniz zaman bize yazabilirsiniz{% if booking_link %}: {{ booking_link }}{% endif %}.",
    ),
    (
        "en",
        "We have cancelled your appointment on {{ date }} at {{ time }}. Write to us whenever you want a new time{% if booking_link %}, or book here: {{ booking_link }}{% endif %}.",
    ),
    (
        "ru",
        "Мы отменили вашу запись на {{ date }} в {{ time }}. Напишите нам, когда захотите выбрать новое время{% if booking_link %}, или запишитесь здесь: {{ booking_link }}{% endif %}.",
    ),
    (
        "de",
        "Wir haben Ihren Termin am {{ date }} um {{ time }} abgesagt. Schreiben Sie uns, wenn Sie einen neuen Termin möchten{% if booking_link %}, oder buchen Sie hier: {{ booking_link }}{% endif %}.",
    ),
    (
        "ar",
        "ألغينا موعدك يوم {{ date }} الساعة {{ time }}. راسلنا متى أردت موعداً جديداً{% if booking_link %}، أو احجز من هنا: {{ booking_link }}{% endif %}.",
    ),
];

const ANSWER_RESCHEDULE: &[(&str, &str)] = &[
    (
        "tr",
        "Teşekkürler{% if first_name %} {{ first_name }}{% endif %}, {{ branch }} şubemizden bir arkadaşımız yeni bir zaman için sizi arayacak.",
    ),
    (
        "en",
        "Thank you{% if first_name %}, {{ first_name }}{% endif %}. Someone from {{ branch }} will call you to find a new time.",
    ),
    (
        "ru",
        "Спасибо{% if first_name %}, {{ first_name }}{% endif %}! Сотрудник {{ branch }} позвонит вам, чтобы подобрать новое время.",
    ),
    (
        "de",
        "Danke{% if first_name %}, {{ first_name }}{% endif %}. Jemand aus {{ branch }} ruft Sie an, um einen neuen Termin zu finden.",
    ),
    (
        "ar",
        "شكراً{% if first_name %} {{ first_name }}{% endif %}. سيتصل بك أحد موظفي {{ branch }} لتحديد موعد جديد.",
    ),
];

const ANSWER_CHANGED: &[(&str, &str)] = &[
    (
        "tr",
        "{% if cancelled %}Bu randevu iptal edilmiş.{% else %}Randevunuz değişti: güncel randevunuz {{ date }} saat {{ time }}, {{ branch }}.{% endif %} Bir sorunuz olursa bize yazabilirsiniz.",
    ),
    (
        "en",
        "{% if cancelled %}This appointment was cancelled.{% else %}Your appointment has changed: it is now on {{ date }} at {{ time }}, {{ branch }}.{% endif %} Write to us if you have any questions.",
    ),
    (
        "ru",
        "{% if cancelled %}Эта запись отменена.{% else %}Ваша запись изменилась: теперь она {{ date }} в {{ time }}, {{ branch }}.{% endif %} Если есть вопросы, напишите нам.",
    ),
    (
        "de",
        "{% if cancelled %}Dieser Termin wurde abgesagt.{% else %}Ihr Termin hat sich geändert: Er ist jetzt am {{ date }} um {{ time }}, {{ branch }}.{% endif %} Schreiben Sie uns bei Fragen.",
    ),
    (
        "ar",
        "{% if cancelled %}تم إلغاء هذا الموعد.{% else %}تغير موعدك: أصبح يوم {{ date }} الساعة {{ time }}، {{ branch }}.{% endif %} راسلنا إذا كان لديك أي سؤال.",
    ),
];

const SURVEY_THANKS: &[(&str, &str)] = &[
    (
        "tr",
        "Değerlendirmeniz için teşekkür ederiz{% if first_name %} {{ first_name }}{% endif %}!",
    ),
    (
        "en",
        "Thank you for your feedback{% if first_name %}, {{ first_name }}{% endif %}!",
    ),
    (
        "ru",
        "Спасибо за вашу оценку{% if first_name %}, {{ first_name }}{% endif %}!",
    ),
    (
        "de",
        "Danke für Ihre Bewertung{% if first_name %}, {{ first_name }}{% endif %}!",
    ),
    (
        "ar",
        "شكراً على تقييمك{% if first_name %} {{ first_name }}{% endif %}!",
    ),
];

const APPOINTMENT_NOTICE: &[(&str, &str)] = &[
    (
        "tr",
        "{{ recipient }}, {{ patient }} {{ date }} {{ time }} ({{ branch }}) randevusu için {% if what == 'cancelled' %}iptal etti{% elif what == 'reschedule' %}yeni bir zaman istiyor{% else %}bir mesaj yazdı{% endif %} (randevu {{ appointment_id }}).",
    ),
    (
        "en",
        "{{ recipient }}, {{ patient }} {% if what == 'cancelled' %}cancelled{% elif what == 'reschedule' %}asked to reschedule{% else %}wrote about{% endif %} the appointment on {{ date }} at {{ time }} ({{ branch }}, appointment {{ appointment_id }}).",
    ),
    (
        "ru",
        "{{ recipient }}, {{ patient }}: {% if what == 'cancelled' %}отмена записи{% elif what == 'reschedule' %}просит перенести запись{% else %}сообщение о записи{% endif %} на {{ date }} в {{ time }} ({{ branch }}, запись {{ appointment_id }}).",
    ),
    (
        "de",
        "{{ recipient }}, {{ patient }}: {% if what == 'cancelled' %}Absage des Termins{% elif what == 'reschedule' %}bittet um Verschiebung des Termins{% else %}Nachricht zum Termin{% endif %} am {{ date }} um {{ time }} ({{ branch }}, Termin {{ appointment_id }}).",
    ),
    (
        "ar",
        "{{ recipient }}، {{ patient }}: {% if what == 'cancelled' %}ألغى الموعد{% elif what == 'reschedule' %}يطلب تغيير الموعد{% else %}كتب بخصوص الموعد{% endif %} يوم {{ date }} الساعة {{ time }} ({{ branch }}، الموعد {{ appointment_id }}).",
    ),
];

/// The clinic's own scheduler reads JSON, not prose: one text for all.
const SCHEDULER_CALLBACK: &[(&str, &str)] = &[("en", "{{ payload }}")];

const LANGUAGE_QUESTION: &[(&str, &str)] = &[
    ("tr", "{{ clinic }}: hangi dilde yazışmak istersiniz?"),
    (
        "en",
        "{{ clinic }}: which language would you like us to write in?",
    ),
    ("ru", "{{ clinic }}: на каком языке вам удобнее общаться?"),
    (
        "de",
        "{{ clinic }}: In welcher Sprache möchten Sie schreiben?",
    ),
    ("ar", "{{ clinic }}: بأي لغة تفضّل أن نتواصل معك؟"),
];
