//! The registry and the command-line selection of consumers.

use hookline_core::Config;

#[test]
fn the_three_consumers_are_registered() {
    assert_eq!(
        crm_consumers::names(),
        vec!["event-store", "engagement-score", "automation"]
    );
}

#[test]
fn selection_by_name_all_by_default_unknown_names_listed() {
    let config = Config::default();
    let all = crm_consumers::select(&config, &[]).unwrap();
    assert_eq!(all.len(), 3);
    let one = crm_consumers::select(&config, &["automation".into(), "automation".into()]).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name(), "automation");
    let err = crm_consumers::select(&config, &["event-stor".into()])
        .err()
        .expect("unknown name refused")
        .to_string();
    assert!(err.contains("\"event-stor\""), "{err}");
    assert!(
        err.contains("event-store, engagement-score, automation"),
        "{err}"
    );
}

#[test]
fn hubspot_sync_runs_only_with_a_usable_token() {
    let mut config = Config::default();
    let err = crm_consumers::select(&config, &["hubspot-sync".into()])
        .err()
        .expect("refused without a token")
        .to_string();
    assert!(err.contains("hubspot.access_token"), "{err}");
    config.hubspot.access_token = Some("too-short".into());
    let err = crm_consumers::select(&config, &[])
        .err()
        .expect("short token refused");
    assert!(err.to_string().contains("hubspot.access_token"), "{err}");
    config.hubspot.access_token = Some("pat-na1-0123456789abcdef".into());
    let all = crm_consumers::select(&config, &[]).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3].name(), "hubspot-sync");
}

#[tokio::test]
async fn run_refuses_an_unknown_consumer_before_connecting() {
    let mut config = hookline_core::testing::isolated_config();
    config.nats.url = "nats://127.0.0.1:1".into(); // would hang if it tried
    let err = crm_consumers::run(config, vec!["nope".into()], hookline_core::Shutdown::new())
        .await
        .unwrap_err();
    assert!(matches!(err, crm_consumers::Error::UnknownConsumer { .. }));
}

#[tokio::test]
async fn a_restart_with_new_settings_updates_the_durables() {
    use crate::support::*;
    use std::time::Duration;
    let mut stack = Stack::new(|_| {}).await;
    let first = stack.start(crm_consumers::registered(&stack.config));
    eventually("durables declared", || async {
        stack.backlog("automation").await == (0, 0)
    })
    .await;
    first.stop().await;

    stack.config.consumers.ack_wait = Duration::from_secs(7);
    stack.config.consumers.max_deliver = 9;
    let second = stack.start(crm_consumers::registered(&stack.config));
    let stream = stack
        .nats
        .js
        .get_stream(stack.nats.names.stream(hookline_core::names::CRM_EVENTS))
        .await
        .unwrap();
    eventually("durables updated", || async {
        let mut durable: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("automation").await.unwrap();
        let info = durable.info().await.unwrap();
        info.config.ack_wait == Duration::from_secs(7)
            && info.config.max_deliver == 9 + crm_consumers::runner::MAX_DELIVER_MARGIN
    })
    .await;
    second.stop().await;
    stack.cleanup().await;
}
