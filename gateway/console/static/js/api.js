// The admin API, with the token the operator logged in with (kept for this tab only).

const TOKEN_KEY = "oadr-gateway-console-token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }

  // The API names each invalid field (422): { field: message }.
  get fields() {
    const out = {};
    for (const f of this.body.fields || []) out[f.field] = f.message;
    return out;
  }
}

export async function request(method, path, body, bearer = token.get()) {
  const headers = { Accept: "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (response.status === 401 && bearer && bearer === token.get()) {  // not the login's check
    token.clear();
    window.dispatchEvent(new Event("console:logged-out"));
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body ?? {});
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

export const q = (path, params) => {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") search.set(k, v);
  const s = search.toString();
  return s ? `${path}?${s}` : path;
};

export const id = encodeURIComponent;

// A plain link would not carry the token (needed with auth_reads): fetch, then save.
export async function download(url, name) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token.get()}`, Accept: "text/csv" } });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await response.blob());
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}
