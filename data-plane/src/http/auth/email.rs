//! Flows that reach the user by email: address verification, password reset, one-time login
//! codes (OTP, and magic-link sign-up). The secret goes out by mail (SMTP when configured, else
//! a log line with the secret redacted); it is in the response only in development mode.

use super::{current_user, issue_pair, limit, origin, query_param, with_secret};
use crate::auth::store::{self, Redeemed, UserChange, PASSWORD_RESET, VERIFY_EMAIL};
use crate::auth::{password, roles};
use crate::db;
use crate::http::context::ProjectOf;
use crate::http::error::ApiError;
use crate::outbound::mail::Mail;
use crate::ratelimit::Bucket;
use crate::registry::Project;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::Json;
use model::error_body::validation_item;
use model::secret::{ct_eq, random_digits, token_hash};
use serde_json::{json, Value};

type Params = Query<Vec<(String, String)>>;

/// Sends a mail carrying `secret` (in the background: the response never waits on SMTP).
fn mail(st: &AppState, p: &Project, to: &str, subject: &str, text: &str, secret: &str) {
    let mail = Mail {
        to: to.to_owned(),
        subject: format!("{subject} ({})", p.config.name),
        body: format!(
            "{text}\n\n    {secret}\n\nIf you did not ask for this, ignore this message.\n"
        ),
        secret: secret.to_owned(),
    };
    let mailer = st.mailer.clone();
    tokio::spawn(async move {
        mailer.send(mail).await;
    });
}

/// `POST …/auth/verify/send`
pub async fn send_verification(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let (user, _) = current_user(&st, &parts, &p).await?;
    if user.is_email_verified {
        return Err(ApiError::BadRequest("Email already verified".into()));
    }
    let origin = origin(&parts, &st);
    limit(&st, &p, Bucket::VerifySend, &origin, Some(&user.email)).await?;
    let mut tx = db::begin(&st.db, &p).await?;
    let token = store::new_one_time_token(&mut tx, &user.id, VERIFY_EMAIL, 24 * 60).await?;
    tx.commit().await?;
    mail(
        &st,
        &p,
        &user.email,
        "Verify your email address",
        "Use this token to verify your email address (valid for 24 hours):",
        &token,
    );
    Ok(Json(with_secret(
        &st,
        "Verification email sent",
        "token",
        Some(token),
    )))
}

/// `POST …/auth/verify/confirm?token=`
pub async fn confirm_verification(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let token = query_param(&params, "token")?;
    let origin = origin(&parts, &st);
    let mut tx = db::begin(&st.db, &p).await?;
    let user_id = match store::redeem(&mut tx, token, VERIFY_EMAIL).await? {
        Redeemed::Invalid => {
            return Err(ApiError::BadRequest(
                "Invalid or expired verification token".into(),
            ))
        }
        Redeemed::Expired => {
            tx.commit().await?;
            return Err(ApiError::BadRequest(
                "Verification token has expired".into(),
            ));
        }
        Redeemed::User(id) => id,
    };
    let change = UserChange {
        is_email_verified: Some(true),
        ..Default::default()
    };
    let user = store::update_user(&mut tx, &user_id, &change)
        .await?
        .ok_or_else(|| ApiError::BadRequest("User not found".into()))?;
    store::audit_user(&mut tx, "auth.email_verify", &user, Value::Null, &origin).await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "message": "Email verified successfully", "email": user.email }),
    ))
}

/// `POST …/auth/password/reset/send?email=`
pub async fn send_reset(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let email = query_param(&params, "email")?.to_lowercase();
    let origin = origin(&parts, &st);
    limit(&st, &p, Bucket::PasswordReset, &origin, Some(&email)).await?;
    let mut tx = db::begin(&st.db, &p).await?;
    let mut token = None;
    if let Some(user) = store::user_by_email(&mut tx, &email).await? {
        token = Some(store::new_one_time_token(&mut tx, &user.id, PASSWORD_RESET, 60).await?);
    }
    tx.commit().await?;
    if let Some(t) = &token {
        mail(
            &st,
            &p,
            &email,
            "Reset your password",
            "Use this token to choose a new password (valid for 1 hour):",
            t,
        );
    }
    Ok(Json(with_secret(
        &st,
        "If the email exists, a reset link has been sent",
        "token",
        token,
    )))
}

/// `POST …/auth/password/reset/confirm?token=&new_password=`
pub async fn confirm_reset(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let token = query_param(&params, "token")?;
    let new = query_param(&params, "new_password")?;
    let n = new.chars().count();
    if !(8..=128).contains(&n) {
        let (kind, msg) = if n < 8 {
            (
                "string_too_short",
                "String should have at least 8 characters",
            )
        } else {
            (
                "string_too_long",
                "String should have at most 128 characters",
            )
        };
        return Err(ApiError::Validation(vec![validation_item(
            kind,
            &["query", "new_password"],
            msg,
            json!(new),
        )]));
    }
    let origin = origin(&parts, &st);
    // The token is spent first, then argon2 runs with no connection held: a bad token costs no
    // hashing.
    let mut tx = db::begin(&st.db, &p).await?;
    let redeemed = store::redeem(&mut tx, token, PASSWORD_RESET).await?;
    tx.commit().await?;
    let user_id = match redeemed {
        Redeemed::Invalid => {
            return Err(ApiError::BadRequest(
                "Invalid or expired reset token".into(),
            ))
        }
        Redeemed::Expired => return Err(ApiError::BadRequest("Reset token has expired".into())),
        Redeemed::User(id) => id,
    };
    let hash = password::hash(new).await.map_err(super::hashing)?;
    let mut tx = db::begin(&st.db, &p).await?;
    let change = UserChange {
        password_hash: Some(&hash),
        ..Default::default()
    };
    let user = store::update_user(&mut tx, &user_id, &change)
        .await?
        .ok_or_else(|| ApiError::BadRequest("User not found".into()))?;
    // Whoever reset the password proved they own the address: other sessions end (they may be
    // the reason for the reset).
    store::end_all_sessions(&mut tx, &user.id, "password reset").await?;
    store::audit_user(&mut tx, "auth.password_reset", &user, Value::Null, &origin).await?;
    tx.commit().await?;
    Ok(Json(json!({ "message": "Password reset successfully" })))
}

/// `POST …/auth/otp/send?email=`: a 6-digit code valid 10 minutes. With magic links and public
/// signup, an unknown email gets an account (passwordless, unverified until the code is used).
pub async fn send_otp(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let email = query_param(&params, "email")?.to_lowercase();
    let origin = origin(&parts, &st);
    limit(&st, &p, Bucket::OtpSend, &origin, Some(&email)).await?;
    let s = &p.config.auth.settings;
    if !s.enable_otp && !s.enable_magic_link {
        return Err(ApiError::BadRequest(
            "OTP/Magic link authentication is not enabled for this project".into(),
        ));
    }
    let mut tx = db::begin(&st.db, &p).await?;
    let mut user = store::user_by_email(&mut tx, &email).await?;
    if user.is_none() && s.enable_magic_link && s.allow_public_signup {
        if model::fields::normalize_email(&email).is_none() {
            return Err(ApiError::BadRequest(format!(
                "Not a valid email address: {email}"
            )));
        }
        user = store::insert_user(&mut tx, &email, None, false, false).await?;
        if let Some(u) = &user {
            roles::assign_default_role(&mut tx, &p.config, &u.id).await?;
        }
    }
    let mut code = None;
    if user.is_some() {
        let c = random_digits(6);
        store::new_otp(&mut tx, &email, &c, 10).await?;
        code = Some(c);
    }
    tx.commit().await?;
    if let Some(c) = &code {
        mail(
            &st,
            &p,
            &email,
            "Your sign-in code",
            "Your one-time sign-in code (valid for 10 minutes):",
            c,
        );
    }
    Ok(Json(with_secret(
        &st,
        "If the email exists, an OTP code has been sent",
        "code",
        code,
    )))
}

/// `POST …/auth/otp/verify?email=&code=`: five wrong guesses burn the code.
pub async fn verify_otp(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let email = query_param(&params, "email")?.to_lowercase();
    let code = query_param(&params, "code")?;
    let origin = origin(&parts, &st);
    limit(&st, &p, Bucket::OtpVerify, &origin, Some(&email)).await?;
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    let mut tx = db::begin(&st.db, &p).await?;
    let Some(otp) = store::otp(&mut tx, &email).await? else {
        return Err(bad("Invalid or expired OTP code"));
    };
    if otp.attempts >= 5 {
        store::delete_otp(&mut tx, &email).await?;
        tx.commit().await?;
        return Err(bad("Too many attempts. Please request a new code."));
    }
    if otp.expired {
        store::delete_otp(&mut tx, &email).await?;
        tx.commit().await?;
        return Err(bad("OTP code has expired"));
    }
    if !ct_eq(token_hash(code).as_bytes(), otp.code_hash.as_bytes()) {
        store::otp_failed(&mut tx, &email).await?;
        tx.commit().await?;
        return Err(bad("Invalid OTP code"));
    }
    let Some(user) = store::user_by_email(&mut tx, &email).await? else {
        return Err(bad("User not found"));
    };
    if user.is_disabled {
        return Err(ApiError::Forbidden("User account is disabled".into()));
    }
    store::delete_otp(&mut tx, &email).await?;
    store::prove_email(&mut tx, &user).await?;
    let pair = issue_pair(&mut tx, &p, &user.id, &origin).await?;
    store::audit_user(
        &mut tx,
        "auth.login",
        &user,
        json!({ "method": "otp" }),
        &origin,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(pair))
}
