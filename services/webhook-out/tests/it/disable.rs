//! Endpoints that stop answering: `410 Gone` disables at once, failing for
//! `disable_after` disables too.

use crate::harness::*;

#[tokio::test]
async fn gone_disables_the_webhook() {
    let stack = Stack::start(config()).await;
    let rx = Receiver::with(|_| (410, vec![]), false).await;
    let id = stack.create_id(standard(&rx.url, &["page_view"])).await;
    stack.publish(&page_view("c1")).await;
    let w = eventually("the webhook disabled", 20, || async {
        let w = stack.webhook(&id).await;
        (w["active"] == false).then_some(w)
    })
    .await;
    assert!(w["disabled_reason"].as_str().unwrap().contains("410"));
    stack.publish(&page_view("c2")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(rx.count(), 1, "nothing more goes to a disabled webhook");
    stack.finish().await;
}

#[tokio::test]
async fn failing_for_too_long_disables() {
    let mut config = config();
    config.webhook_out.disable_after = std::time::Duration::from_millis(300);
    config.webhook_out.retry_schedule = vec![std::time::Duration::from_millis(200); 5];
    let stack = Stack::start(config.clone()).await;
    let rx = Receiver::with(|_| (500, vec![]), false).await;
    let id = stack.create_id(standard(&rx.url, &["page_view"])).await;
    stack.publish(&page_view("c1")).await;
    let w = eventually("the webhook disabled", 30, || async {
        let w = stack.webhook(&id).await;
        (w["active"] == false).then_some(w)
    })
    .await;
    assert!(
        w["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("without a success")
    );
    stack.finish().await;
}
