#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The DynamoDB item store passes the same contract suite as the embedded
//! engine, against the AWS emulator with the template's table.

use clinicflow_aws::Usage;
use clinicflow_aws::emulator::Emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_item_store_contract() {
    let emulator = Emulator::start();
    let deployment = emulator.deploy("contract").await;
    let usage = Usage::default();
    let store = deployment
        .resources
        .store(&emulator.sdk_config(), Some(&usage));
    clinicflow_contract::item_store(&store).await;
    assert!(usage.total_requests() > 0);
}
