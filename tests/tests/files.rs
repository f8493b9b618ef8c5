//! File storage end to end (spec/files.md), through the router, on both backends: the local
//! folder and a real S3-compatible server (`s3s-fs`). Uploads, listing, stats, downloads with
//! ranges and validators, safe headers, signed URLs, file policies, tenancy, and what failures
//! leave behind (nothing).

use e2e::s3::S3;
use e2e::{files_under, Options, Res, TestEnv};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

/// A project with its admin, and where its objects can be seen.
struct Setup {
    env: TestEnv,
    token: String,
    pid: String,
    s3: Option<S3>,
    /// The local backend's folder.
    local_dir: std::path::PathBuf,
}

impl Setup {
    async fn start(s3: Option<S3>, max_file_size: Option<u64>) -> Self {
        let mut files = s3.as_ref().map(S3::settings);
        let mut local_dir = None;
        if let Some(max) = max_file_size {
            let mut f = files.unwrap_or_else(|| {
                let dir =
                    std::env::temp_dir().join(format!("backendify-files-{}", uuid::Uuid::new_v4()));
                local_dir = Some(dir.clone());
                data_plane::files::Settings::local(dir)
            });
            f.max_file_size = max;
            files = Some(f);
        }
        let env = TestEnv::start_with(Options {
            files,
            ..Options::default()
        })
        .await;
        let local_dir = local_dir.unwrap_or_else(|| env.files_dir.clone());
        let token = env.admin("files-admin@example.com").await;
        let pid = env.project(&token, "files").await;
        Self {
            env,
            token,
            pid,
            s3,
            local_dir,
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/projects/{}/files{rest}", self.pid)
    }

    /// The stored objects of this project.
    fn objects(&self) -> Vec<String> {
        match &self.s3 {
            Some(s3) => s3.objects(&self.pid),
            None => files_under(&self.local_dir, &self.pid),
        }
    }

    async fn upload_as(
        &self,
        auth: Auth<'_>,
        name: &str,
        bytes: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Res {
        let mut form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
        for (k, v) in extra {
            form = form.text(k.to_string(), v.to_string());
        }
        let req = auth.apply(
            self.env
                .request("POST", &self.path("/upload"))
                .multipart(form),
        );
        self.env.send(req).await
    }

    async fn upload(&self, name: &str, bytes: &[u8], extra: &[(&str, &str)]) -> Res {
        self.upload_as(Auth::Bearer(&self.token), name, bytes.to_vec(), extra)
            .await
    }

    async fn get(&self, rest: &str, auth: Auth<'_>) -> reqwest::Response {
        auth.apply(self.env.request("GET", &self.path(rest)))
            .send()
            .await
            .expect("the router answers")
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Key(&'a str),
}

impl Auth<'_> {
    fn apply(self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Key(k) => req.header("x-api-key", k),
        }
    }
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The contract's journey: upload, list, filter, stats, metadata, public and private download,
/// delete; the object is gone with the row.
async fn contract_journey(s: &Setup) {
    let body = b"Hello from a Backendify test";
    let res = s
        .upload(
            "test.txt",
            body,
            &[("bucket", "documents"), ("is_public", "true")],
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let f = &res.body;
    assert_eq!(f["original_filename"], "test.txt");
    assert_eq!(f["content_type"], "text/plain");
    assert_eq!(f["size_bytes"], json!(body.len()));
    assert_eq!(f["bucket"], "documents");
    assert_eq!(f["is_public"], true);
    let id = f["id"].as_str().unwrap().to_owned();
    assert_eq!(
        f["download_url"],
        json!(format!("/api/projects/{}/files/{id}/download", s.pid))
    );
    let stored = f["filename"].as_str().unwrap();
    assert!(
        stored.len() == 14 + 1 + 16 + 4 && stored.ends_with(".txt"),
        "{stored}"
    );
    assert_eq!(
        s.objects(),
        vec![format!("{}/{id}", s.pid)],
        "one object, keyed by ids"
    );

    let private = s
        .upload("data.csv", b"a,b\n1,2\n", &[("bucket", "docs")])
        .await;
    assert_eq!(private.status, 201, "{private:?}");
    assert_eq!(private.body["is_public"], false);
    assert_eq!(private.body["content_type"], "text/csv");
    let private_id = private.body["id"].as_str().unwrap().to_owned();

    let list = s.env.call("GET", &s.path(""), Some(&s.token), None).await;
    assert_eq!(list.status, 200);
    let items = list.body.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], json!(private_id), "newest first");
    assert!(items[0].get("download_url").is_none());
    for key in [
        "collection_id",
        "record_id",
        "field_name",
        "uploaded_by_user_id",
        "created_at",
        "updated_at",
    ] {
        assert!(items[0].get(key).is_some(), "FileOut has {key}");
    }
    let docs = s
        .env
        .call("GET", &s.path("?bucket=docs"), Some(&s.token), None)
        .await;
    assert_eq!(docs.body.as_array().unwrap().len(), 1);
    assert_eq!(docs.body[0]["bucket"], "docs");
    let page = s
        .env
        .call("GET", &s.path("?limit=1&offset=1"), Some(&s.token), None)
        .await;
    assert_eq!(page.body[0]["id"], json!(id));
    let bad = s
        .env
        .call("GET", &s.path("?limit=1001"), Some(&s.token), None)
        .await;
    assert_eq!(bad.status, 422);

    let stats = s
        .env
        .call("GET", &s.path("/stats"), Some(&s.token), None)
        .await;
    assert_eq!(stats.status, 200, "{stats:?}");
    assert_eq!(stats.body["file_count"], 2);
    assert_eq!(stats.body["total_bytes"], json!(body.len() + 8));
    assert_eq!(stats.body["total_mb"], 0.0);

    let meta = s
        .env
        .call("GET", &s.path(&format!("/{id}")), Some(&s.token), None)
        .await;
    assert_eq!(meta.status, 200);
    assert_eq!(meta.body["download_url"], f["download_url"]);
    let missing = s
        .env
        .call("GET", &s.path("/nonexistent-id"), Some(&s.token), None)
        .await;
    assert_eq!(
        (missing.status, missing.detail()),
        (404, "File not found".into())
    );

    // Public: anyone, exact bytes, and the headers a browser needs.
    let res = s.get(&format!("/{id}/download"), Auth::None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/plain");
    assert_eq!(header(&res, "content-length"), body.len().to_string());
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&res, "content-disposition"),
        "attachment; filename=\"test.txt\"; filename*=UTF-8''test.txt"
    );
    assert!(!header(&res, "etag").is_empty() && !header(&res, "last-modified").is_empty());
    assert_eq!(res.bytes().await.unwrap().as_ref(), body);

    // Private: not for anyone, for member admins yes.
    let res = s.get(&format!("/{private_id}/download"), Auth::None).await;
    assert_eq!(res.status(), 401);
    let res = s
        .get(&format!("/{private_id}/download"), Auth::Bearer(&s.token))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");

    // Delete: row and object.
    let res = s
        .env
        .call("DELETE", &s.path(&format!("/{id}")), Some(&s.token), None)
        .await;
    assert_eq!(res.status, 204);
    let res = s
        .env
        .call("GET", &s.path(&format!("/{id}")), Some(&s.token), None)
        .await;
    assert_eq!(res.status, 404);
    let res = s.get(&format!("/{id}/download"), Auth::None).await;
    assert_eq!(res.status(), 404);
    let res = s
        .env
        .call("DELETE", &s.path(&format!("/{id}")), Some(&s.token), None)
        .await;
    assert_eq!((res.status, res.detail()), (404, "File not found".into()));
    assert_eq!(s.objects(), vec![format!("{}/{private_id}", s.pid)]);
}

/// Ranges, validators, and a file larger than one upload part.
async fn transfer_journey(s: &Setup) {
    // 7.5 MiB: more than one part on either backend (1 MiB local, 5 MiB S3) and a shorter last
    // one, so the multipart path is taken whole.
    let big: Vec<u8> = (0..15 * 512 * 1024 + 123u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let res = s.upload("big.pdf", &big, &[("is_public", "yes")]).await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["size_bytes"], json!(big.len()));
    assert_eq!(res.body["content_type"], "application/pdf");
    let id = res.body["id"].as_str().unwrap().to_owned();
    let dl = format!("/{id}/download");

    let whole = s.get(&dl, Auth::None).await;
    assert_eq!(whole.status(), 200);
    let etag = header(&whole, "etag");
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    assert!(
        whole.bytes().await.unwrap().as_ref() == big.as_slice(),
        "the whole file, intact"
    );

    let ranged = |range: &'static str| s.env.request("GET", &s.path(&dl)).header("range", range);
    let res = ranged("bytes=100-199").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(
        header(&res, "content-range"),
        format!("bytes 100-199/{}", big.len())
    );
    assert_eq!(header(&res, "content-length"), "100");
    assert_eq!(res.bytes().await.unwrap().as_ref(), &big[100..200]);
    let res = ranged("bytes=-10").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &big[big.len() - 10..]);
    let res = ranged("bytes=6291456-").send().await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &big[6_291_456..]);
    let res = ranged("bytes=99999999-").send().await.unwrap();
    assert_eq!(res.status(), 416);
    assert_eq!(
        header(&res, "content-range"),
        format!("bytes */{}", big.len())
    );

    let res = s
        .env
        .request("GET", &s.path(&dl))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert!(res.bytes().await.unwrap().is_empty());
    // `If-Range` with a validator that does not match: the whole file.
    let res = s
        .env
        .request("GET", &s.path(&dl))
        .header("range", "bytes=0-9")
        .header("if-range", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .env
        .request("GET", &s.path(&dl))
        .header("range", "bytes=0-9")
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);

    // An empty file is a file.
    let res = s.upload("empty.txt", b"", &[("is_public", "1")]).await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["size_bytes"], 0);
    let res = s
        .get(
            &format!("/{}/download", res.body["id"].as_str().unwrap()),
            Auth::None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.unwrap().is_empty());
}

/// Refusals: the contract's statuses and messages, and nothing stored after any of them.
async fn refusal_journey(s: &Setup) {
    let before = s.objects();
    let up = |name: &'static str| s.upload(name, b"x", &[]);
    let res = up("virus.txt.exe").await;
    assert_eq!(res.status, 400);
    assert!(
        res.detail()
            .starts_with("File extension 'exe' is not allowed. Allowed: jpg, jpeg, png"),
        "{res:?}"
    );
    let res = up("Makefile").await;
    assert_eq!(res.status, 400);
    assert!(
        res.detail()
            .starts_with("File extension '' is not allowed."),
        "{res:?}"
    );
    assert_eq!(
        up("PHOTO.JPG").await.status,
        201,
        "extensions are case-insensitive"
    );

    let res = s.upload("a.txt", b"x", &[("is_public", "maybe")]).await;
    assert_eq!(res.status, 422, "{res:?}");
    assert_eq!(res.body["detail"][0]["loc"], json!(["body", "is_public"]));
    let res = s
        .upload("a.txt", b"x", &[("collection_id", "not-a-uuid")])
        .await;
    assert_eq!(res.status, 422, "{res:?}");

    // No file part; no multipart at all.
    let form = Form::new().text("bucket", "b");
    let req = s
        .env
        .request("POST", &s.path("/upload"))
        .bearer_auth(&s.token)
        .multipart(form);
    let res = s.env.send(req).await;
    assert_eq!(res.status, 422, "{res:?}");
    assert_eq!(res.body["detail"][0]["loc"], json!(["body", "file"]));
    let res = s
        .env
        .call(
            "POST",
            &s.path("/upload"),
            Some(&s.token),
            Some(json!({"file": "x"})),
        )
        .await;
    assert_eq!(res.status, 422, "{res:?}");

    // Who: no token, an API key alone (without file policies), another project's admin.
    let res = s.upload_as(Auth::None, "a.txt", b"x".to_vec(), &[]).await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Not authenticated".into())
    );
    let key = s
        .env
        .call(
            "POST",
            &format!("/api/projects/{}/api-keys", s.pid),
            Some(&s.token),
            Some(json!({"name": "k"})),
        )
        .await;
    let key = key.body["api_key"].as_str().unwrap().to_owned();
    let res = s
        .upload_as(Auth::Key(&key), "a.txt", b"x".to_vec(), &[])
        .await;
    assert_eq!(res.status, 401);
    let res = s
        .env
        .send(s.env.request("GET", &s.path("")).header("x-api-key", &key))
        .await;
    assert_eq!(res.status, 401);
    let stranger = s.env.admin("stranger@example.com").await;
    let res = s
        .upload_as(Auth::Bearer(&stranger), "a.txt", b"x".to_vec(), &[])
        .await;
    assert_eq!(res.status, 404);

    let mut after = s.objects();
    after.retain(|o| !before.contains(o));
    assert_eq!(after.len(), 1, "only PHOTO.JPG was stored: {after:?}");
}

async fn hostile_names_journey(s: &Setup) {
    let res = s
        .upload(
            "evil\"; filename=x.html\t\u{202e}fdp.txt",
            b"<script>alert(1)</script>",
            &[("is_public", "on")],
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let name = res.body["original_filename"].as_str().unwrap().to_owned();
    assert!(
        !name.contains('\t') && !name.contains('\u{202e}'),
        "{name:?}"
    );
    let id = res.body["id"].as_str().unwrap().to_owned();
    let res = s.get(&format!("/{id}/download"), Auth::None).await;
    assert_eq!(res.status(), 200);
    let d = header(&res, "content-disposition");
    assert_eq!(
        d,
        "attachment; filename=\"evil__ filename_x.htmlfdp.txt\"; filename*=UTF-8''evil%22%3B%20filename%3Dx.htmlfdp.txt"
    );
    assert_eq!(d.matches('"').count(), 2, "{d}");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");

    // A part that claims to be HTML is still only ever an attachment.
    let form = Form::new()
        .part(
            "file",
            Part::bytes(b"<html><script>1</script></html>".to_vec())
                .file_name("page.txt")
                .mime_str("text/html")
                .unwrap(),
        )
        .text("is_public", "true");
    let req = s
        .env
        .request("POST", &s.path("/upload"))
        .bearer_auth(&s.token)
        .multipart(form);
    let res = s.env.send(req).await;
    assert_eq!(res.status, 201);
    let res = s
        .get(
            &format!("/{}/download", res.body["id"].as_str().unwrap()),
            Auth::None,
        )
        .await;
    assert_eq!(header(&res, "content-type"), "text/html");
    assert!(header(&res, "content-disposition").starts_with("attachment;"));
    assert!(header(&res, "content-security-policy").contains("sandbox"));

    // Path tricks in the id never reach another file or folder.
    for trick in [
        "/..%2F..%2Fetc%2Fpasswd/download",
        "/%2e%2e/download",
        &format!("/{}%2F..%2F{id}/download", s.pid),
    ] {
        let res = s.get(trick, Auth::Bearer(&s.token)).await;
        assert_eq!(res.status(), 404, "{trick}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_on_the_local_backend() {
    let s = Setup::start(None, None).await;
    contract_journey(&s).await;
    transfer_journey(&s).await;
    refusal_journey(&s).await;
    hostile_names_journey(&s).await;
    s.env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_on_an_s3_compatible_store() {
    let s = Setup::start(Some(S3::start()), None).await;
    contract_journey(&s).await;
    transfer_journey(&s).await;
    refusal_journey(&s).await;
    hostile_names_journey(&s).await;
    s.env.shutdown().await;
}

/// The `MAX_FILE_SIZE` of the size tests: more than a part on either backend, so a refusal
/// comes mid-way through a multipart upload.
const MAX: usize = 6 * 1024 * 1024;

/// `MAX_FILE_SIZE` while streaming: the contract's 400 with the real size, nothing stored.
async fn size_limit_journey(s: &Setup) {
    let res = s.upload("ok.txt", &vec![b'a'; MAX], &[]).await;
    assert_eq!(res.status, 201, "exactly the limit is allowed: {res:?}");
    let before = s.objects();
    let n = MAX + 5;
    let res = s.upload("big.txt", &vec![b'b'; n], &[]).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert_eq!(
        res.detail(),
        format!("File size {n} exceeds maximum allowed size of {MAX} bytes")
    );
    let res = s.upload("edge.txt", &vec![b'c'; MAX + 1], &[]).await;
    assert_eq!(
        res.detail(),
        format!(
            "File size {} exceeds maximum allowed size of {MAX} bytes",
            MAX + 1
        )
    );
    assert_eq!(
        s.objects(),
        before,
        "a refused upload leaves no object (staging included)"
    );
    let stats = s
        .env
        .call("GET", &s.path("/stats"), Some(&s.token), None)
        .await;
    assert_eq!(stats.body["file_count"], 1, "and no row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_limit_holds_while_streaming_on_both_backends() {
    let s = Setup::start(None, Some(MAX as u64)).await;
    size_limit_journey(&s).await;
    // Past the router's own limit for uploads (16 MiB in tests): 413 from the router, which
    // stops streaming; the worker sees the body end early and keeps nothing.
    let before = s.objects();
    let s2 = Setup::start(None, Some(64 << 20)).await;
    let res = s2.upload("huge.txt", &vec![b'd'; 17 << 20], &[]).await;
    assert_eq!(
        (res.status, res.detail()),
        (413, "Request body too large".into())
    );
    let stats = s2
        .env
        .call("GET", &s2.path("/stats"), Some(&s2.token), None)
        .await;
    assert_eq!(stats.body["file_count"], 0);
    assert!(s2.objects().is_empty(), "{:?}", s2.objects());
    assert_eq!(s.objects(), before);
    for s in [s, s2] {
        let dir = s.local_dir.clone();
        s.env.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }
    let s = Setup::start(Some(S3::start()), Some(MAX as u64)).await;
    size_limit_journey(&s).await;
    s.env.shutdown().await;
}

async fn signed_url(s: &Setup, id: &str, body: Value) -> Res {
    s.env
        .call(
            "POST",
            &s.path(&format!("/{id}/signed-url")),
            Some(&s.token),
            Some(body),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_open_private_files_until_they_expire() {
    // The same on both backends.
    for s3 in [false, true] {
        let s = Setup::start(s3.then(S3::start), None).await;
        let res = s.upload("secret.json", b"{\"a\":1}", &[]).await;
        let id = res.body["id"].as_str().unwrap().to_owned();

        let res = signed_url(&s, &id, json!({"expires_in": 600})).await;
        assert_eq!(res.status, 200, "{res:?}");
        let url = res.body["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with(&format!(
            "/api/projects/{}/files/{id}/download?expires=",
            s.pid
        )));
        assert!(res.body["expires_at"].is_string());
        let fetch = |u: String| {
            let base = s.env.base.clone();
            async move { reqwest::get(format!("{base}{u}")).await.unwrap() }
        };
        let res = fetch(url.clone()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().as_ref(), b"{\"a\":1}");

        // Tampered: another expiry, another signature, another file.
        let longer = url.replace("expires=", "expires=9");
        assert_eq!(fetch(longer).await.status(), 401);
        let forged = format!("{}AAAA", &url[..url.len() - 4]);
        assert_eq!(fetch(forged).await.status(), 401);
        let other = s.upload("other.txt", b"o", &[]).await;
        let other_id = other.body["id"].as_str().unwrap();
        assert_eq!(fetch(url.replace(&id, other_id)).await.status(), 401);

        // Lifetimes out of 1 s – 7 days, wrong types.
        for bad in [
            json!({"expires_in": 0}),
            json!({"expires_in": 604801}),
            json!({"expires_in": "1h"}),
        ] {
            assert_eq!(signed_url(&s, &id, bad.clone()).await.status, 422, "{bad}");
        }
        assert_eq!(
            signed_url(&s, &id, json!({"expires_in": 604800}))
                .await
                .status,
            200
        );
        let res = s
            .env
            .call(
                "POST",
                &s.path(&format!("/{id}/signed-url")),
                None,
                Some(json!({})),
            )
            .await;
        assert_eq!(
            res.status, 401,
            "only those who may read the file sign URLs"
        );

        // Expiry.
        let short = signed_url(&s, &id, json!({"expires_in": 1})).await;
        let short = short.body["url"].as_str().unwrap().to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let res = fetch(short).await;
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.json::<Value>().await.unwrap()["detail"],
            "Signed URL has expired"
        );

        // A rotated project key ends the URLs signed with the old one.
        assert_eq!(fetch(url.clone()).await.status(), 200);
        let res = s
            .env
            .call(
                "POST",
                &format!("/api/projects/{}/settings/auth/signing-keys/rotate", s.pid),
                Some(&s.token),
                None,
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        assert_eq!(fetch(url).await.status(), 401);
        s.env.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_reach_each_others_files() {
    // The same on both backends.
    for s3 in [false, true] {
        let s = Setup::start(s3.then(S3::start), None).await;
        let res = s.upload("mine.txt", b"project A", &[]).await;
        let id = res.body["id"].as_str().unwrap().to_owned();
        let public = s
            .upload("pub.txt", b"public A", &[("is_public", "true")])
            .await;
        let public_id = public.body["id"].as_str().unwrap().to_owned();
        let url = signed_url(&s, &id, json!({"expires_in": 600})).await;
        let url = url.body["url"].as_str().unwrap().to_owned();

        let other = s.env.admin("other@example.com").await;
        let b = s.env.project(&other, "other").await;
        let in_b = |rest: &str| format!("/api/projects/{b}/files{rest}");
        for rest in [format!("/{id}"), format!("/{public_id}")] {
            let res = s.env.call("GET", &in_b(&rest), Some(&other), None).await;
            assert_eq!((res.status, res.detail()), (404, "File not found".into()));
        }
        for rest in [format!("/{id}/download"), format!("/{public_id}/download")] {
            let res = s
                .env
                .send(s.env.request("GET", &in_b(&rest)).bearer_auth(&other))
                .await;
            assert_eq!(res.status, 404, "{rest}");
        }
        let res = s
            .env
            .call("DELETE", &in_b(&format!("/{id}")), Some(&other), None)
            .await;
        assert_eq!(res.status, 404);
        // A's signed URL, pointed at B.
        let moved = url.replace(&s.pid, &b);
        let res = reqwest::get(format!("{}{moved}", s.env.base))
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        // B's admin on A's project: not a member.
        let res = s.env.call("GET", &s.path(""), Some(&other), None).await;
        assert_eq!(res.status, 404);
        let res = s.env.call("GET", &in_b("/stats"), Some(&other), None).await;
        assert_eq!(res.body["file_count"], 0);
        let res = s
            .get(&format!("/{id}/download"), Auth::Bearer(&s.token))
            .await;
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            b"project A",
            "A's file untouched"
        );
        s.env.shutdown().await;
    }
}

/// An app user of the project, signed in: (id, access token).
async fn app_user(s: &Setup, email: &str) -> (String, String) {
    let body = json!({"email": email, "password": "app-user-pass"});
    let auth = format!("/api/projects/{}/auth", s.pid);
    let res = s
        .env
        .call(
            "POST",
            &format!("{auth}/register"),
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let token = res.body["access_token"].as_str().unwrap().to_owned();
    let me = s
        .env
        .call("GET", &format!("{auth}/me"), Some(&token), None)
        .await;
    assert_eq!(me.status, 200, "{me:?}");
    (me.body["id"].as_str().unwrap().to_owned(), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_policies_open_files_to_app_users_and_api_keys() {
    // The same on both backends.
    for s3 in [false, true] {
        let s = Setup::start(s3.then(S3::start), None).await;
        let policies = format!("/api/projects/{}/schema/collections/_files/policies", s.pid);
        for p in [
            json!({"name": "app users upload", "action": "create", "allowed_principals": "app_user"}),
            json!({"name": "own files", "action": "read", "allowed_principals": "app_user",
               "condition_json": "{\"type\": \"app_user_owner\", \"field\": \"uploaded_by_app_user_id\"}"}),
            json!({"name": "keys read all", "action": "read", "allowed_principals": "api_key"}),
            json!({"name": "delete own", "action": "delete", "allowed_principals": "app_user",
               "condition_json": "{\"uploaded_by_app_user_id\": \"$current_app_user_id\"}"}),
        ] {
            let res = s.env.call("POST", &policies, Some(&s.token), Some(p)).await;
            assert_eq!(res.status, 201, "{res:?}");
        }
        let res = s.env.call("GET", &policies, Some(&s.token), None).await;
        assert_eq!(res.body.as_array().unwrap().len(), 4);
        let bad = json!({"name": "x", "action": "read", "condition_json": "[]"});
        assert_eq!(
            s.env
                .call("POST", &policies, Some(&s.token), Some(bad))
                .await
                .status,
            400
        );

        let (ann, ann_token) = app_user(&s, "ann@example.com").await;
        let (_, bob_token) = app_user(&s, "bob@example.com").await;
        let res = s
            .upload_as(Auth::Bearer(&ann_token), "ann.txt", b"ann's".to_vec(), &[])
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        assert_eq!(res.body["uploaded_by_app_user_id"], json!(ann));
        assert_eq!(res.body["uploaded_by_user_id"], Value::Null);
        let ann_file = res.body["id"].as_str().unwrap().to_owned();
        let res = s
            .upload_as(Auth::Bearer(&bob_token), "bob.txt", b"bob's".to_vec(), &[])
            .await;
        let bob_file = res.body["id"].as_str().unwrap().to_owned();
        s.upload("admin.txt", b"admin's", &[]).await;

        // Ann sees, downloads and deletes her own files only.
        let res = s.env.call("GET", &s.path(""), Some(&ann_token), None).await;
        assert_eq!(res.status, 200);
        let ids: Vec<&str> = res
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![ann_file.as_str()]);
        let stats = s
            .env
            .call("GET", &s.path("/stats"), Some(&ann_token), None)
            .await;
        assert_eq!(stats.body["file_count"], 1);
        let res = s
            .get(&format!("/{ann_file}/download"), Auth::Bearer(&ann_token))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().as_ref(), b"ann's");
        let res = s
            .get(&format!("/{bob_file}/download"), Auth::Bearer(&ann_token))
            .await;
        assert_eq!(res.status(), 403);
        let res = s
            .env
            .call(
                "GET",
                &s.path(&format!("/{bob_file}")),
                Some(&ann_token),
                None,
            )
            .await;
        assert_eq!(
            (res.status, res.detail()),
            (403, "Permission denied for action: read".into())
        );
        let res = s.get(&format!("/{ann_file}/download"), Auth::None).await;
        assert_eq!(res.status(), 401);
        let res = s
            .env
            .call(
                "DELETE",
                &s.path(&format!("/{bob_file}")),
                Some(&ann_token),
                None,
            )
            .await;
        assert_eq!(res.status, 403);

        // API keys read everything but may not upload or delete.
        let key = s
            .env
            .call(
                "POST",
                &format!("/api/projects/{}/api-keys", s.pid),
                Some(&s.token),
                Some(json!({"name": "k"})),
            )
            .await;
        let key = key.body["api_key"].as_str().unwrap().to_owned();
        let res = s
            .env
            .send(s.env.request("GET", &s.path("")).header("x-api-key", &key))
            .await;
        assert_eq!(res.body.as_array().unwrap().len(), 3);
        let res = s
            .get(&format!("/{bob_file}/download"), Auth::Key(&key))
            .await;
        assert_eq!(res.status(), 200);
        let res = s
            .upload_as(Auth::Key(&key), "k.txt", b"k".to_vec(), &[])
            .await;
        assert_eq!(
            (res.status, res.detail()),
            (403, "Permission denied for action: create".into())
        );
        let res = s
            .env
            .send(
                s.env
                    .request("DELETE", &s.path(&format!("/{bob_file}")))
                    .header("x-api-key", &key),
            )
            .await;
        assert_eq!(res.status, 403);

        let res = s
            .env
            .call(
                "DELETE",
                &s.path(&format!("/{ann_file}")),
                Some(&ann_token),
                None,
            )
            .await;
        assert_eq!(res.status, 204);
        assert_eq!(s.objects().len(), 2, "ann's object went with her row");
        s.env.shutdown().await;
    }
}
