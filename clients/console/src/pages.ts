// The console's pages: pure functions from what the daemon answered to Html. They decide nothing:
// the buttons of a row are exactly the `actions` of the daemon's view, and every form carries the
// session's CSRF token.
import type { AuditEvent, CompanyInfo, RoleInfo, SaRow, SaView } from "@gatehouse/client";
import { html, type Html } from "./html.js";
import type { Flash } from "./sessions.js";

export interface Frame {
  title: string;
  csrf: string;
  user?: { name: string };
  companies?: readonly CompanyInfo[];
  company?: bigint;
  current?: "accounts" | "audit";
  flash?: Flash | undefined;
}

function time(seconds: bigint): string {
  if (seconds === 0n) return "never";
  return new Date(Number(seconds) * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

function flashBox(flash: Flash | undefined): Html {
  if (flash === undefined) return html``;
  const missing =
    flash.missing !== undefined && flash.missing.length > 0
      ? html`<p>Missing: <span class="missing">${flash.missing.join(", ")}</span></p>`
      : html``;
  const secret =
    flash.secret === undefined
      ? html``
      : html`<div class="secret">
  <p>The new API key of <strong>${flash.secret.account}</strong>. It is shown this once and never again: copy it now.</p>
  <p><code id="new-key">${flash.secret.key}</code> <button type="button" class="copy" data-copy="new-key">Copy</button></p>
</div>`;
  return html`<div class="flash ${flash.kind}" role="${flash.kind === "error" ? "alert" : "status"}"><p>${flash.text}</p>${missing}${secret}</div>`;
}

export function layout(frame: Frame, body: Html): Html {
  const header =
    frame.user === undefined
      ? html`<header><span class="brand">gatehouse console</span></header>`
      : html`<header>
  <span class="brand">gatehouse console</span>
  <nav>
    <a href="/service-accounts"${frame.current === "accounts" ? html` aria-current="page"` : html``}>Service accounts</a>
    <a href="/audit"${frame.current === "audit" ? html` aria-current="page"` : html``}>Audit</a>
  </nav>
  <form method="post" action="/company" class="switcher">
    ${csrfField(frame.csrf)}
    <label>Active company
      <select name="company" id="company">
        ${(frame.companies ?? []).map(
          (c) => html`<option value="${c.id}"${c.id === frame.company ? html` selected` : html``}>${c.name}</option>`,
        )}
      </select>
    </label>
    <button type="submit">Switch</button>
  </form>
  <form method="post" action="/sign-out" class="signout">
    ${csrfField(frame.csrf)}
    <span class="who">${frame.user.name}</span> <button type="submit">Sign out</button>
  </form>
</header>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · gatehouse</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
${header}
<main>
<h1>${frame.title}</h1>
${flashBox(frame.flash)}
${body}
</main>
</body>
</html>
`;
}

export function signInPage(csrf: string, flash: Flash | undefined, user: string): Html {
  return layout(
    { title: "Sign in", csrf, flash },
    html`<form method="post" action="/sign-in" class="signin">
  ${csrfField(csrf)}
  <label>User name <input name="user" id="user" autocomplete="username" value="${user}" autofocus></label>
  <label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label>
  <label>TOTP code <small>(users with 2-FA)</small> <input name="totp" id="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6"></label>
  <button type="submit">Sign in</button>
</form>`,
  );
}

function rolesText(roles: readonly RoleInfo[]): Html {
  if (roles.length === 0) return html``;
  return html`<div class="roles">${roles.map((r) => html`<span class="role" title="${r.permissions.join(", ")}">${r.name}</span> `)}</div>`;
}

function accessCell(row: SaRow): Html {
  if (!row.hasAccess) return html`<span class="muted">offered, not granted</span>`;
  const perms = row.permissions.length === 0 ? html`` : html`<div class="perms">${row.permissions.join(", ")}</div>`;
  const expiry = row.expiresAt === 0n ? html`` : html`<div class="muted">until ${time(row.expiresAt)}</div>`;
  const none = row.permissions.length === 0 && row.roles.length === 0 ? html`<span class="muted">nothing</span>` : html``;
  return html`${perms}${rolesText(row.roles)}${none}${expiry}`;
}

function keysCell(row: SaRow): Html {
  if (row.relation !== "owned") return html`<span class="muted">—</span>`;
  if (row.keys.length === 0) return html`<span class="muted">none</span>`;
  return html`<ul class="keys">${row.keys.map(
    (k) => html`<li>#${k.id} <span class="key-${k.state}">${k.state}</span>, created ${time(k.createdAt)}${
      k.lastUsedAt === 0n ? html`` : html`, used ${time(k.lastUsedAt)}`
    }</li>`,
  )}</ul>`;
}

function postButton(csrf: string, action: string, account: bigint, label: string, name: string): Html {
  return html`<form method="post" action="${action}" class="inline">${csrfField(csrf)}<input type="hidden" name="account" value="${account}"><button type="submit" data-action="${name}">${label}</button></form>`;
}

function actionsCell(csrf: string, row: SaRow): Html {
  const a = row.actions;
  const base = `/service-accounts/${row.id}`;
  return html`<div class="actions">
    ${a.editDescription ? html`<a class="button" data-action="describe" href="${base}/description">Edit description</a>` : html``}
    ${a.resetCredentials ? postButton(csrf, "/service-accounts/reset", row.id, "Reset credentials", "reset") : html``}
    ${a.delete ? html`<a class="button danger" data-action="delete" href="${base}/delete">Delete</a>` : html``}
    ${a.editPermissions ? html`<a class="button" data-action="permissions" href="${base}/permissions">Edit permissions</a>` : html``}
    ${a.removeAccess ? postButton(csrf, "/service-accounts/revoke", row.id, "Remove access", "revoke") : html``}
    ${a.share ? html`<a class="button" data-action="share" href="${base}/share">Share</a>` : html``}
  </div>`;
}

function accountRow(csrf: string, row: SaRow): Html {
  const badge = row.relation === "owned" ? html`<span class="badge owned">Owned</span>` : html`<span class="badge external">External</span>`;
  const state = row.state === "active" ? html`` : html` <span class="badge disabled">${row.state}</span>`;
  const offered = row.offeredTo.length === 0 ? html`` : html`<div class="muted">offered to ${row.offeredTo.map((c) => c.name).join(", ")}</div>`;
  const ceiling = row.hasCeiling ? html`<div class="muted">ceiling: ${row.ceiling.join(", ") || "nothing"}</div>` : html``;
  return html`<tr data-account="${row.name}" data-id="${row.id}">
  <td><strong>${row.name}</strong><div class="muted">id ${row.id}</div></td>
  <td class="description">${row.description}</td>
  <td>${badge}${state}</td>
  <td class="owner">${row.ownerCompanyName}</td>
  <td class="access">${accessCell(row)}${offered}${ceiling}</td>
  <td class="keys-cell">${keysCell(row)}</td>
  <td>${row.hasAccess ? time(row.lastUsedAt) : ""}</td>
  <td>${actionsCell(csrf, row)}</td>
</tr>`;
}

export function accountsBody(csrf: string, view: SaView | undefined, roles: readonly RoleInfo[]): Html {
  const table =
    view === undefined
      ? html``
      : view.rows.length === 0
        ? html`<p class="muted">No service account is owned by or granted access to this company.</p>`
        : html`<table class="accounts">
<thead><tr><th>Name</th><th>Description</th><th></th><th>Owner company</th><th>Permissions and roles here</th><th>Keys</th><th>Last used here</th><th>Actions</th></tr></thead>
<tbody>
${view.rows.map((r) => accountRow(csrf, r))}
</tbody>
</table>`;
  return html`${table}
<section class="forms">
<form method="post" action="/service-accounts/create" class="card" id="create">
  <h2>Create service account</h2>
  ${csrfField(csrf)}
  <label>Name <input name="name" required></label>
  <label>Description <input name="description"></label>
  <button type="submit">Create</button>
</form>
<form method="post" action="/service-accounts/grant" class="card" id="grant">
  <h2>Grant access to an account by id</h2>
  ${csrfField(csrf)}
  <label>Account id <input name="account" required inputmode="numeric" pattern="[0-9]+"></label>
  <label>Role <select name="role"><option value="">(none: edit its permissions afterwards)</option>${roles.map(
    (r) => html`<option value="${r.id}">${r.name}${r.company === 0n ? " (system)" : ""}</option>`,
  )}</select></label>
  <button type="submit">Grant access</button>
</form>
</section>`;
}

export function permissionsBody(csrf: string, row: SaRow, catalog: readonly string[], roles: readonly RoleInfo[]): Html {
  const held = new Set(row.permissions);
  const heldRoles = new Set(row.roles.map((r) => r.id));
  return html`<p>What <strong>${row.name}</strong> (${row.relation === "owned" ? "owned" : `owned by ${row.ownerCompanyName}`}) may do in this company, and only here.</p>
<form method="post" action="/service-accounts/permissions" class="card">
  ${csrfField(csrf)}
  <input type="hidden" name="account" value="${row.id}">
  <input type="hidden" name="expiresAt" value="${row.expiresAt}">
  <fieldset><legend>Permissions</legend>
  ${catalog.map(
    (p) => html`<label class="check"><input type="checkbox" name="permission" value="${p}"${held.has(p) ? html` checked` : html``}> ${p}</label>`,
  )}
  </fieldset>
  <fieldset><legend>Roles</legend>
  ${roles.map(
    (r) => html`<label class="check"><input type="checkbox" name="role" value="${r.id}"${heldRoles.has(r.id) ? html` checked` : html``}> ${r.name}${r.company === 0n ? " (system)" : ""} <small class="muted">${r.permissions.join(", ")}</small></label>`,
  )}
  </fieldset>
  <button type="submit">Save permissions</button> <a href="/service-accounts">Cancel</a>
</form>`;
}

export function descriptionBody(csrf: string, row: SaRow): Html {
  return html`<form method="post" action="/service-accounts/describe" class="card">
  ${csrfField(csrf)}
  <input type="hidden" name="account" value="${row.id}">
  <label>Description of <strong>${row.name}</strong> <input name="description" value="${row.description}" size="60"></label>
  <button type="submit">Save</button> <a href="/service-accounts">Cancel</a>
</form>`;
}

export function deleteBody(csrf: string, row: SaRow): Html {
  return html`<div class="card">
<p>Delete <strong>${row.name}</strong>? Its keys and its access in every company go with it, in one
transaction; the audit trail stays. This cannot be undone.</p>
<form method="post" action="/service-accounts/delete" class="inline">
  ${csrfField(csrf)}
  <input type="hidden" name="account" value="${row.id}">
  <button type="submit" class="danger" data-action="confirm-delete">Delete ${row.name}</button>
</form>
<a href="/service-accounts">Cancel</a>
</div>`;
}

export function shareBody(csrf: string, row: SaRow, companies: readonly CompanyInfo[]): Html {
  const offered = new Set(row.offeredTo.map((c) => c.id));
  const candidates = companies.filter((c) => c.id !== row.ownerCompany && !offered.has(c.id));
  return html`<p>Offer <strong>${row.name}</strong> to another company, which may then grant it access there by its id (${row.id}).</p>
<form method="post" action="/service-accounts/share" class="card">
  ${csrfField(csrf)}
  <input type="hidden" name="account" value="${row.id}">
  <label>Company <select name="company">${candidates.map((c) => html`<option value="${c.id}">${c.name}</option>`)}</select></label>
  <button type="submit">Offer</button> <a href="/service-accounts">Cancel</a>
</form>
${row.offeredTo.length === 0 ? html`` : html`<h2>Offered to</h2><ul>${row.offeredTo.map(
    (c) => html`<li>${c.name} <form method="post" action="/service-accounts/unshare" class="inline">${csrfField(csrf)}<input type="hidden" name="account" value="${row.id}"><input type="hidden" name="company" value="${c.id}"><button type="submit">Withdraw (removes its access there)</button></form></li>`,
  )}</ul>`}`;
}

export function auditBody(events: readonly AuditEvent[], names: ReadonlyMap<bigint, string>, more: bigint | undefined): Html {
  if (events.length === 0) return html`<p class="muted">No events.</p>`;
  return html`<table class="audit">
<thead><tr><th>#</th><th>Time</th><th>Actor</th><th>Operation</th><th>Target</th><th>Outcome</th></tr></thead>
<tbody>
${events.map(
  (e) => html`<tr><td>${e.sequence}</td><td>${time(e.time)}</td><td>${e.actor === 0n ? "system" : (names.get(e.actor) ?? `#${e.actor}`)}</td><td>${e.operation}</td><td>${e.target}</td><td class="${e.outcome === "ok" ? "ok" : "failed"}">${e.outcome}</td></tr>`,
)}
</tbody>
</table>
${more === undefined ? html`` : html`<p><a href="/audit?before=${more}">Older events</a></p>`}`;
}

export function messageBody(text: string): Html {
  return html`<p>${text}</p><p><a href="/">Back</a></p>`;
}
