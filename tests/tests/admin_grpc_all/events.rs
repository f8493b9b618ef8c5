//! What reacts to changes: webhooks (delivered to a receiver on loopback) and workflows.

use super::*;

/// CreateWebhook, GetWebhook, ListWebhooks, UpdateWebhook, RotateWebhookSecret, TestWebhook,
/// ListWebhookDeliveries, RetryWebhookDelivery, DeleteWebhook. The webhook points at a receiver
/// on loopback, which the test workers may reach.
pub(crate) async fn webhooks(c: &mut Client, r: &mut Report, t: &str, p: &str, rx: &Receiver) {
    let res = c
        .create_webhook(authed(
            t,
            CreateWebhookRequest {
                project_id: p.into(),
                name: "Posts".into(),
                url: rx.url("/hook"),
                events: vec!["record.created".into()],
                collections: vec!["posts".into()],
                ..Default::default()
            },
        ))
        .await;
    let hook = r.ok("CreateWebhook", res);
    check!(
        r,
        hook.is_active
            && hook.collections == ["posts"]
            && hook
                .secret
                .as_deref()
                .is_some_and(|s| s.starts_with("whsec_")),
        "{hook:?}"
    );
    let get = GetWebhookRequest {
        project_id: p.into(),
        webhook_id: hook.id.clone(),
    };
    let res = c.get_webhook(authed(t, get.clone())).await;
    let got = r.ok("GetWebhook", res);
    check!(
        r,
        got.id == hook.id && got.url == rx.url("/hook") && got.secret.is_none(),
        "{got:?}"
    );
    let res = c
        .list_webhooks(authed(
            t,
            ListWebhooksRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let list = r.ok("ListWebhooks", res);
    check!(r, list.webhooks.iter().any(|w| w.id == hook.id), "{list:?}");
    let res = c
        .update_webhook(authed(
            t,
            UpdateWebhookRequest {
                project_id: p.into(),
                webhook_id: hook.id.clone(),
                webhook: Some(WebhookUpdate {
                    name: Some("Every record".into()),
                    ..Default::default()
                }),
                // `collections` named but unset: every collection.
                update_mask: mask(&["name", "collections"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateWebhook", res);
    check!(
        r,
        updated.name == "Every record" && updated.collections.is_empty() && updated.is_active,
        "{updated:?}"
    );
    let res = c
        .rotate_webhook_secret(authed(
            t,
            RotateWebhookSecretRequest {
                project_id: p.into(),
                webhook_id: hook.id.clone(),
            },
        ))
        .await;
    let rotated = r.ok("RotateWebhookSecret", res);
    check!(
        r,
        rotated.secret.is_some()
            && rotated.secret != hook.secret
            && rotated.previous_secret_expires_at.is_some(),
        "{rotated:?}"
    );

    let res = c
        .test_webhook(authed(
            t,
            TestWebhookRequest {
                project_id: p.into(),
                webhook_id: hook.id.clone(),
            },
        ))
        .await;
    let delivery = r.ok("TestWebhook", res);
    check!(r, delivery.event_type == "webhook.test", "{delivery:?}");
    let hits = rx.wait_for(1, Duration::from_secs(15)).await;
    check!(
        r,
        hits.len() == 1 && hits[0].json()["event"] == "webhook.test",
        "{hits:?}"
    );
    let list_req = ListWebhookDeliveriesRequest {
        project_id: p.into(),
        webhook_id: hook.id.clone(),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let deliveries = loop {
        let res = c.list_webhook_deliveries(authed(t, list_req.clone())).await;
        let list = r.ok("ListWebhookDeliveries", res);
        let done = list
            .deliveries
            .iter()
            .any(|d| d.id == delivery.id && d.status == "delivered");
        if done || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    check!(
        r,
        deliveries.deliveries.iter().any(|d| d.id == delivery.id
            && d.status == "delivered"
            && d.response_status == Some(200)),
        "{deliveries:?}"
    );
    let res = c
        .retry_webhook_delivery(authed(
            t,
            RetryWebhookDeliveryRequest {
                project_id: p.into(),
                webhook_id: hook.id.clone(),
                delivery_id: delivery.id.clone(),
            },
        ))
        .await;
    let retried = r.ok("RetryWebhookDelivery", res);
    check!(
        r,
        retried.id == delivery.id && retried.status == "pending",
        "{retried:?}"
    );
    let hits = rx.wait_for(2, Duration::from_secs(15)).await;
    check!(
        r,
        hits.len() == 2 && hits[0].header("webhook-id") == hits[1].header("webhook-id"),
        "a retry is sent again with the same id: {hits:?}"
    );

    let res = c
        .delete_webhook(authed(
            t,
            DeleteWebhookRequest {
                project_id: p.into(),
                webhook_id: hook.id.clone(),
            },
        ))
        .await;
    r.ok("DeleteWebhook", res);
    let res = c.get_webhook(authed(t, get)).await;
    r.fails("GetWebhook after DeleteWebhook", res, Code::NotFound);
}

/// CreateWorkflow, GetWorkflow, ListWorkflows, UpdateWorkflow, RunWorkflow, GetWorkflowRun,
/// ListWorkflowRuns (also paged), DeleteWorkflow.
pub(crate) async fn workflows(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let step = json!({"action": "transform", "name": "greet",
                      "output": {"hello": "{{ trigger.input.name }}"}});
    let res = c
        .create_workflow(authed(
            t,
            CreateWorkflowRequest {
                project_id: p.into(),
                name: "greeter".into(),
                trigger_type: "manual".into(),
                steps: vec![obj(step.clone())],
                ..Default::default()
            },
        ))
        .await;
    let flow = r.ok("CreateWorkflow", res);
    check!(
        r,
        flow.trigger_type.as_deref() == Some("manual") && flow.is_active == Some(true),
        "{flow:?}"
    );
    let get = GetWorkflowRequest {
        project_id: p.into(),
        workflow_id: flow.id.clone(),
    };
    let res = c.get_workflow(authed(t, get.clone())).await;
    let got = r.ok("GetWorkflow", res);
    let steps: Vec<Json> = got.steps.iter().map(from_struct).collect();
    check!(r, got.id == flow.id && steps == [step], "{got:?}");
    let res = c
        .list_workflows(authed(
            t,
            ListWorkflowsRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let list = r.ok("ListWorkflows", res);
    check!(
        r,
        list.workflows.iter().any(|w| w.id == flow.id),
        "{list:?}"
    );
    let res = c
        .update_workflow(authed(
            t,
            UpdateWorkflowRequest {
                project_id: p.into(),
                workflow_id: flow.id.clone(),
                workflow: Some(Workflow {
                    description: Some("Says hello".into()),
                    ..Default::default()
                }),
                update_mask: mask(&["description"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateWorkflow", res);
    check!(
        r,
        updated.description.as_deref() == Some("Says hello")
            && updated.name.as_deref() == Some("greeter"),
        "{updated:?}"
    );

    let res = c
        .run_workflow(authed(
            t,
            RunWorkflowRequest {
                project_id: p.into(),
                workflow_id: flow.id.clone(),
                input: Some(obj(json!({"name": "Ada"}))),
            },
        ))
        .await;
    let run = r.ok("RunWorkflow", res);
    let trigger = run.trigger.as_ref().map(from_value).unwrap_or_default();
    check!(
        r,
        run.workflow_id == flow.id && trigger["input"]["name"] == "Ada",
        "{run:?}"
    );
    let run_req = GetWorkflowRunRequest {
        project_id: p.into(),
        workflow_id: flow.id.clone(),
        run_id: run.id.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        let res = c.get_workflow_run(authed(t, run_req.clone())).await;
        let got = r.ok("GetWorkflowRun", res);
        if matches!(got.status.as_str(), "completed" | "failed") || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = done
        .steps
        .first()
        .and_then(|s| s.output.as_ref())
        .map(from_value);
    check!(
        r,
        done.id == run.id && done.status == "completed" && output == Some(json!({"hello": "Ada"})),
        "{done:?}"
    );
    let res = c
        .list_workflow_runs(authed(
            t,
            ListWorkflowRunsRequest {
                project_id: p.into(),
                workflow_id: flow.id.clone(),
                ..Default::default()
            },
        ))
        .await;
    let runs = r.ok("ListWorkflowRuns", res);
    check!(
        r,
        runs.total == 1 && runs.runs.iter().any(|x| x.id == run.id),
        "{runs:?}"
    );
    workflow_run_pages(c, r, t, p, &flow.id).await;
    let res = c
        .delete_workflow(authed(
            t,
            DeleteWorkflowRequest {
                project_id: p.into(),
                workflow_id: flow.id.clone(),
            },
        ))
        .await;
    r.ok("DeleteWorkflow", res);
    let res = c.get_workflow(authed(t, get)).await;
    r.fails("GetWorkflow after DeleteWorkflow", res, Code::NotFound);
}

/// ListWorkflowRuns in pages, over a workflow that has one run: 20 more runs make 21, which
/// `page_size` 8 walks in 3 pages (REST's own `limit`/`offset` carry the page, its `total` says
/// whether more follow); a `limit` of the caller's own gets exactly that slice and no token.
async fn workflow_run_pages(c: &mut Client, r: &mut Report, t: &str, p: &str, flow: &str) {
    for i in 0..20 {
        let res = c
            .run_workflow(authed(
                t,
                RunWorkflowRequest {
                    project_id: p.into(),
                    workflow_id: flow.into(),
                    input: Some(obj(json!({"name": format!("run {i}")}))),
                },
            ))
            .await;
        r.ok("RunWorkflow", res);
    }
    let list = |page_token: String| ListWorkflowRunsRequest {
        project_id: p.into(),
        workflow_id: flow.into(),
        page_size: 8,
        page_token,
        ..Default::default()
    };
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut token = String::new();
    loop {
        let res = c.list_workflow_runs(authed(t, list(token))).await;
        let page = r.ok("ListWorkflowRuns (paged)", res);
        sizes.push(page.runs.len());
        ids.extend(page.runs.into_iter().map(|x| x.id));
        token = page.next_page_token;
        if token.is_empty() || sizes.len() > 5 {
            break;
        }
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    check!(
        r,
        ids.len() == 21 && distinct.len() == 21 && sizes == [8, 8, 5] && token.is_empty(),
        "page sizes {sizes:?}, {} ids ({} distinct), last token {token:?}",
        ids.len(),
        distinct.len()
    );

    let res = c
        .list_workflow_runs(authed(
            t,
            ListWorkflowRunsRequest {
                project_id: p.into(),
                workflow_id: flow.into(),
                limit: Some(5),
                ..Default::default()
            },
        ))
        .await;
    let slice = r.ok("ListWorkflowRuns (limit)", res);
    check!(
        r,
        slice.runs.len() == 5 && slice.total == 21 && slice.next_page_token.is_empty(),
        "{slice:?}"
    );
}
