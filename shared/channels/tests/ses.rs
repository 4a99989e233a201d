//! E-mail through SES v2 against the AWS emulator (moto): a verified
//! sender's message is accepted with a message id; an unverified sender's
//! is refused for good, as SES documents (`MessageRejected`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinicflow_aws::emulator::Emulator;
use clinicflow_channels::ses::SesEmail;
use clinicflow_core::message::Channel;
use clinicflow_core::providers::EmailSender;
use clinicflow_ports::{Messenger, SendError};
use common::message;

fn email(to: &str) -> clinicflow_core::message::Message {
    let mut m = message(Channel::Email, to, None);
    m.body = "Hello Anna, Elif will call you back shortly.".to_owned();
    m
}

fn sender(from: &str) -> EmailSender {
    EmailSender {
        from: from.to_owned(),
        configuration_set: None,
        messages_per_second: 14,
    }
}

#[tokio::test]
async fn a_verified_sender_sends_and_an_unverified_one_is_refused() {
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config();
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    ses.create_email_identity()
        .email_identity("hello@clinic.example")
        .send()
        .await
        .unwrap();

    let verified = SesEmail::new(&sdk, sender("hello@clinic.example"));
    let receipt = verified.send(&email("anna@patient.example")).await.unwrap();
    assert_eq!(receipt.provider, "ses");
    assert!(!receipt.provider_id.is_empty());

    let unverified = SesEmail::new(&sdk, sender("nobody@unverified.example"));
    match unverified.send(&email("anna@patient.example")).await {
        Err(SendError::Permanent { code, .. }) => assert_eq!(code, "MessageRejected"),
        other => panic!("{other:?}"),
    }
}
