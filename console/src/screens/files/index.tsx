// Files (§3.15): stats, paged list with a bucket filter, multi-file upload with progress through
// the shared client's token, details, copy link, download (private through the admin token),
// preview, delete.

import { useRef, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { ApiError, API_BASE, api, decodeError, getTokens } from "../../api/client";
import { invalidate } from "../../api/queries";
import { pp, seg, type FileOut, type FileStats } from "../../api/types";
import { setQuery, useLocation } from "../../lib/router";
import { Badge, CopyButton, Empty, ErrorState, Json, Skeleton, Time, formatBytes } from "../../ui/bits";
import { Dialog, confirm } from "../../ui/Dialog";
import { Checkbox, TextField } from "../../ui/form";
import { Table } from "../../ui/Table";
import { toast, toastError } from "../../ui/toast";

const ALLOWED = ["jpg", "jpeg", "png", "gif", "webp", "pdf", "txt", "csv", "json", "xml", "doc", "docx", "xls", "xlsx"];
const MAX = 10 * 1024 * 1024;

interface Upload { name: string; progress: number; error?: string; done?: boolean }

/** Uploads one file with progress (XHR), through the same token handling as every request. */
function uploadOne(url: string, form: FormData, onProgress: (p: number) => void): Promise<void> {
  const send = (token: string | undefined) => new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", API_BASE + url);
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(new ApiError(0, "Cannot reach the server"));
    xhr.send(form);
  });
  return (async () => {
    let r = await send(getTokens()?.access_token);
    if (r.status === 401) {
      // Let the shared client refresh once (a cheap authenticated GET), then retry.
      await api.get("/api/me");
      r = await send(getTokens()?.access_token);
    }
    if (r.status < 200 || r.status >= 300) {
      throw decodeError(r.status, r.body);
    }
  })();
}

function Uploader({ pid }: { pid: string }) {
  const [bucket, setBucket] = useState("");
  const [isPublic, setPublic] = useState(false);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const start = async (files: File[]) => {
    const list: Upload[] = files.map((f) => {
      const ext = f.name.includes(".") ? f.name.split(".").pop()!.toLowerCase() : "";
      return { name: f.name, progress: 0, error: ALLOWED.includes(ext) ? undefined : `Extension ".${ext}" is usually refused (allowed: ${ALLOWED.join(", ")}); sending anyway` };
    });
    setUploads(list);
    for (let i = 0; i < files.length; i++) {
      const f = files[i];
      if (f.size > MAX) list[i] = { ...list[i], error: `Larger than the default 10 MiB limit; sending anyway` };
      const form = new FormData();
      form.append("file", f, f.name);
      if (bucket) form.append("bucket", bucket);
      form.append("is_public", isPublic ? "true" : "false");
      try {
        await uploadOne(pp(pid, "/files/upload"), form, (p) => setUploads((u) => u.map((x, j) => (j === i ? { ...x, progress: p } : x))));
        setUploads((u) => u.map((x, j) => (j === i ? { ...x, progress: 1, done: true, error: undefined } : x)));
      } catch (e) {
        setUploads((u) => u.map((x, j) => (j === i ? { ...x, error: e instanceof Error ? e.message : String(e), done: false } : x)));
      }
    }
    await invalidate("files", "files-stats");
  };
  return (
    <section className="card page" aria-label="Upload">
      <h2>Upload</h2>
      <div className="row">
        <TextField label="Bucket" value={bucket} onChange={(e) => setBucket(e.target.value)} hint="Optional label" />
        <Checkbox label="Public (anyone with the link can download)" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} />
      </div>
      <div className={`empty ${over ? "highlight" : ""}`} onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)}
        onDrop={(e) => { e.preventDefault(); setOver(false); void start([...e.dataTransfer.files]); }}>
        <p>Drop files here, or</p>
        <label className="field">
          <span>Choose files</span>
          <input ref={input} type="file" multiple onChange={(e) => { void start([...(e.target.files ?? [])]); e.target.value = ""; }} />
        </label>
      </div>
      {uploads.length > 0 && (
        <ul aria-label="Uploads">
          {uploads.map((u, i) => (
            <li key={i}>
              {u.name} <progress value={u.progress} max={1} aria-label={`Upload of ${u.name}`} /> {u.done ? <Badge tone="ok">uploaded</Badge> : null}
              {u.error && <span className={u.done === false ? "field-error" : "hint"} role={u.done === false ? "alert" : undefined}> {u.error}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

async function downloadPrivate(pid: string, f: FileOut) {
  try {
    const res = await api.get<Response>(pp(pid, `/files/${seg(f.id)}/download`), { raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = f.original_filename;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) toast("The server does not serve private files to admins", "error");
    else toastError(e);
  }
}

function Details({ pid, id, onClose }: { pid: string; id: string; onClose: () => void }) {
  const file = useQuery({ queryKey: ["files", pid, "one", id], queryFn: () => api.get<FileOut>(pp(pid, `/files/${seg(id)}`)) });
  const [preview, setPreview] = useState<{ url?: string; text?: string } | null>(null);
  const f = file.data;
  const showPreview = async () => {
    if (!f) return;
    try {
      const res = await api.get<Response>(pp(pid, `/files/${seg(f.id)}/download`), { raw: true });
      const blob = await res.blob();
      if (f.content_type.startsWith("text/") || f.content_type === "application/json") setPreview({ text: (await blob.text()).slice(0, 20000) });
      else setPreview({ url: URL.createObjectURL(blob) });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) toast("The server does not serve private files to admins", "error");
      else toastError(e);
    }
  };
  return (
    <Dialog title={f ? f.original_filename : "File"} open onClose={onClose} drawer>
      {file.isPending ? <Skeleton /> : file.error ? <ErrorState error={file.error} notFound="File not found" /> : f && (
        <div className="page">
          <Json value={f} label="file details" />
          {/^(image\/|text\/|application\/(pdf|json))/.test(f.content_type) && <button type="button" onClick={showPreview}>Preview</button>}
          {preview?.text !== undefined && <pre className="json" aria-label="Preview">{preview.text}</pre>}
          {preview?.url && (f.content_type === "application/pdf"
            ? <iframe title="PDF preview" src={preview.url} style={{ width: "100%", height: "60vh" }} />
            : <img src={preview.url} alt={`Preview of ${f.original_filename}`} style={{ maxWidth: "100%" }} />)}
        </div>
      )}
    </Dialog>
  );
}

export default function Files({ pid }: { pid: string }) {
  const { search } = useLocation();
  const bucket = search.get("bucket") ?? "";
  const [bucketText, setBucketText] = useState(bucket);
  const size = 50;
  const page = Math.max(1, Number(search.get("page")) || 1);
  const [open, setOpen] = useState<string | null>(null);
  const stats = useQuery({ queryKey: ["files-stats", pid], queryFn: () => api.get<FileStats>(pp(pid, "/files/stats")) });
  const files = useQuery({
    queryKey: ["files", pid, bucket, page],
    placeholderData: keepPreviousData,
    queryFn: () => api.get<FileOut[]>(pp(pid, "/files"), { query: { bucket: bucket || undefined, limit: size, offset: (page - 1) * size } }),
  });
  const link = (f: FileOut) => `${window.location.origin}/api/projects/${pid}/files/${f.id}/download`;
  const remove = async (f: FileOut) => {
    if (!(await confirm({ title: "Delete file", message: <>Delete <strong>{f.original_filename}</strong>? Its content is removed.</>, action: "Delete" }))) return;
    try {
      await api.del(pp(pid, `/files/${seg(f.id)}`));
      toast("File deleted");
      await invalidate("files", "files-stats");
    } catch (e) {
      toastError(e);
    }
  };
  if (stats.error instanceof ApiError && stats.error.status === 404) {
    return (
      <div className="page">
        <h1>Files</h1>
        <Empty title="File storage is not available on this server">
          <p className="muted">The files endpoints answered 404 (<code>GET …/files/stats</code>).</p>
        </Empty>
      </div>
    );
  }
  return (
    <div className="page">
      <h1>Files</h1>
      <div className="stats">
        <div className="stat" data-testid="file-count"><span className="num">{stats.data?.file_count ?? (stats.error ? "—" : "…")}</span><span className="muted">Files</span></div>
        <div className="stat"><span className="num">{stats.data ? formatBytes(stats.data.total_bytes) : stats.error ? "—" : "…"}</span><span className="muted">Total size</span></div>
      </div>
      {stats.error && <ErrorState error={stats.error} retry={() => stats.refetch()} />}
      <Uploader pid={pid} />
      <form role="search" className="row" onSubmit={(e) => { e.preventDefault(); setQuery({ bucket: bucketText, page: null }); }}>
        <TextField label="Filter by bucket" value={bucketText} onChange={(e) => setBucketText(e.target.value)} hint="Press Enter" data-slash-focus />
      </form>
      {files.isPending ? <Skeleton /> : files.error && !files.data ? <ErrorState error={files.error} retry={() => files.refetch()} /> : files.data && files.data.length === 0 ? (
        <Empty title={bucket ? "No files in this bucket" : "No files yet"} />
      ) : files.data ? (
        <Table label="Files" rows={files.data} rowKey={(f) => f.id} busy={files.isFetching} onRowClick={(f) => setOpen(f.id)} columns={[
          { key: "name", label: "Name", render: (f) => f.original_filename },
          { key: "type", label: "Type", render: (f) => f.content_type },
          { key: "size", label: "Size", render: (f) => formatBytes(f.size_bytes) },
          { key: "bucket", label: "Bucket", render: (f) => f.bucket ?? <span className="muted">—</span> },
          { key: "public", label: "Access", render: (f) => (f.is_public ? <Badge tone="info">public</Badge> : <Badge>private</Badge>) },
          { key: "created", label: "Uploaded", render: (f) => <Time value={f.created_at} /> },
          { key: "act", label: <span className="sr">Actions</span>, render: (f) => (
            <span className="row">
              <button type="button" onClick={() => setOpen(f.id)} aria-label={`Details of ${f.original_filename}`}>Details</button>
              {f.is_public ? (
                <>
                  <CopyButton text={link(f)} label={`Copy link of ${f.original_filename}`} />
                  <a href={link(f)} download={f.original_filename} aria-label={`Download ${f.original_filename}`}>Download</a>
                </>
              ) : <button type="button" onClick={() => downloadPrivate(pid, f)} aria-label={`Download ${f.original_filename}`}>Download</button>}
              <button type="button" onClick={() => remove(f)} aria-label={`Delete ${f.original_filename}`}>Delete</button>
            </span>
          ) },
        ]} paging={{ offset: (page - 1) * size, limit: size, count: files.data.length, onPage: (o) => setQuery({ page: o / size + 1 }) }} />
      ) : null}
      <p className="muted small">Files have no folders: the bucket is a flat label.</p>
      {open && <Details pid={pid} id={open} onClose={() => setOpen(null)} />}
    </div>
  );
}
