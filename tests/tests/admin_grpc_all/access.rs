//! What guards the data: validation rules, access policies, and the audit log of what was done.

use super::*;

/// CreateValidationRule, ListValidationRules, UpdateValidationRule, ListRuleTypes,
/// DeleteValidationRule.
pub(crate) async fn validation_rules(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let res = c
        .create_validation_rule(authed(
            t,
            CreateValidationRuleRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                field_name: "title".into(),
                rule_type: "min_length".into(),
                config: Some(obj(json!({"min": 3}))),
                ..Default::default()
            },
        ))
        .await;
    let rule = r.ok("CreateValidationRule", res);
    check!(r, rule.rule_type == "min_length", "{rule:?}");
    let list = |c: &mut Client| {
        let mut c = c.clone();
        let p = p.to_owned();
        let t = t.to_owned();
        async move {
            c.list_validation_rules(authed(
                &t,
                ListValidationRulesRequest {
                    project_id: p,
                    collection_name: "posts".into(),
                    field_name: "title".into(),
                    ..Default::default()
                },
            ))
            .await
        }
    };
    let res = list(c).await;
    let rules = r.ok("ListValidationRules", res);
    check!(r, rules.rules.iter().any(|x| x.id == rule.id), "{rules:?}");
    let res = c
        .update_validation_rule(authed(
            t,
            UpdateValidationRuleRequest {
                project_id: p.into(),
                rule_id: rule.id.clone(),
                rule: Some(ValidationRule {
                    config: Some(obj(json!({"min": 2}))),
                    error_message: Some("Too short".into()),
                    ..Default::default()
                }),
                update_mask: mask(&["config", "error_message"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateValidationRule", res);
    let config = updated.config.as_ref().map(from_struct);
    check!(
        r,
        updated.id == rule.id
            && config == Some(json!({"min": 2}))
            && updated.error_message.as_deref() == Some("Too short"),
        "{updated:?}"
    );
    let res = c
        .list_rule_types(authed(
            t,
            ListRuleTypesRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let types = r.ok("ListRuleTypes", res);
    check!(
        r,
        types
            .rule_types
            .iter()
            .any(|x| x.r#type == "min_length" && x.applies_to.contains(&"string".to_owned())),
        "{types:?}"
    );
    let res = c
        .delete_validation_rule(authed(
            t,
            DeleteValidationRuleRequest {
                project_id: p.into(),
                rule_id: rule.id.clone(),
            },
        ))
        .await;
    r.ok("DeleteValidationRule", res);
    let res = list(c).await;
    let rules = r.ok("ListValidationRules", res);
    check!(r, rules.rules.is_empty(), "{rules:?}");
}

/// CreatePolicy, GetPolicy, ListPolicies, UpdatePolicy, DeletePolicy.
pub(crate) async fn policies(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let res = c
        .create_policy(authed(
            t,
            CreatePolicyRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                name: "public read".into(),
                action: "read".into(),
                allowed_principals: Some("anonymous".into()),
                ..Default::default()
            },
        ))
        .await;
    let policy = r.ok("CreatePolicy", res);
    let get = GetPolicyRequest {
        project_id: p.into(),
        collection_name: "posts".into(),
        policy_id: policy.id.clone(),
    };
    let res = c.get_policy(authed(t, get.clone())).await;
    let got = r.ok("GetPolicy", res);
    check!(
        r,
        got.id == policy.id
            && got.action == "read"
            && got.allowed_principals.as_deref() == Some("anonymous"),
        "{got:?}"
    );
    let res = c
        .list_policies(authed(
            t,
            ListPoliciesRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                ..Default::default()
            },
        ))
        .await;
    let list = r.ok("ListPolicies", res);
    check!(
        r,
        list.policies.iter().any(|x| x.id == policy.id),
        "{list:?}"
    );
    let res = c
        .update_policy(authed(
            t,
            UpdatePolicyRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                policy_id: policy.id.clone(),
                policy: Some(Policy {
                    name: Some("anyone reads".into()),
                    priority: Some(5),
                    ..Default::default()
                }),
                update_mask: mask(&["name", "priority"]),
            },
        ))
        .await;
    let updated = r.ok("UpdatePolicy", res);
    check!(
        r,
        updated.name.as_deref() == Some("anyone reads")
            && updated.priority == Some(5)
            && updated.allowed_principals.as_deref() == Some("anonymous"),
        "{updated:?}"
    );
    let res = c
        .delete_policy(authed(
            t,
            DeletePolicyRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                policy_id: policy.id.clone(),
            },
        ))
        .await;
    r.ok("DeletePolicy", res);
    let res = c.get_policy(authed(t, get)).await;
    r.fails("GetPolicy after DeletePolicy", res, Code::NotFound);
}

/// ListAuditEvents (also paged), VerifyAuditChain (after one record was written over REST).
pub(crate) async fn audit(env: &TestEnv, c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let res = c
        .list_audit_events(authed(
            t,
            ListAuditEventsRequest {
                project_id: p.into(),
                collection: Some("posts".into()),
                ..Default::default()
            },
        ))
        .await;
    let events = r.ok("ListAuditEvents", res);
    check!(
        r,
        events.events.iter().any(|e| e.action == "create") && events.total >= 1,
        "{events:?}"
    );
    let res = c
        .verify_audit_chain(authed(
            t,
            VerifyAuditChainRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let chain = r.ok("VerifyAuditChain", res);
    check!(r, chain.valid && chain.first_broken.is_none(), "{chain:?}");
    audit_pages(env, c, r, t, p).await;
}

/// ListAuditEvents in pages: with six more records of `posts` written over REST, `page_size` 3
/// walks every event of the collection, as many distinct ones as REST's `total` counts; a `limit`
/// of the caller's own gets exactly that slice and no token.
async fn audit_pages(env: &TestEnv, c: &mut Client, r: &mut Report, t: &str, p: &str) {
    for i in 1..=6 {
        let rec = env
            .call(
                "POST",
                &format!("/api/projects/{p}/data/posts"),
                Some(t),
                Some(json!({"title": format!("post {i}"), "views": i})),
            )
            .await;
        check!(r, rec.status == 201, "{rec:?}");
    }
    let list = |page_token: String| ListAuditEventsRequest {
        project_id: p.into(),
        collection: Some("posts".into()),
        page_size: 3,
        page_token,
        ..Default::default()
    };
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut totals = BTreeSet::new();
    let mut token = String::new();
    loop {
        let res = c.list_audit_events(authed(t, list(token))).await;
        let page = r.ok("ListAuditEvents (paged)", res);
        sizes.push(page.events.len());
        totals.insert(page.total);
        ids.extend(page.events.into_iter().map(|e| e.id));
        token = page.next_page_token;
        if token.is_empty() || sizes.len() > 10 {
            break;
        }
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    let total = totals.first().copied().unwrap_or_default();
    check!(
        r,
        total >= 7
            && totals.len() == 1
            && ids.len() as i64 == total
            && distinct.len() == ids.len()
            && sizes.len() as i64 == (total + 2) / 3
            && token.is_empty(),
        "totals {totals:?}, page sizes {sizes:?}, {} ids ({} distinct), last token {token:?}",
        ids.len(),
        distinct.len()
    );

    let res = c
        .list_audit_events(authed(
            t,
            ListAuditEventsRequest {
                project_id: p.into(),
                collection: Some("posts".into()),
                limit: Some(2),
                offset: Some(1),
                ..Default::default()
            },
        ))
        .await;
    let slice = r.ok("ListAuditEvents (limit)", res);
    let got: Vec<&str> = slice.events.iter().map(|e| e.id.as_str()).collect();
    let want: Vec<&str> = ids.iter().skip(1).take(2).map(String::as_str).collect();
    check!(
        r,
        got == want && slice.total == total && slice.next_page_token.is_empty(),
        "{slice:?}"
    );
}
