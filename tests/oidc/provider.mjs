// A real OpenID Connect provider (oidc-provider, certified) for docex's single sign-on tests.
// Usage: node provider.mjs PORT CONFIG_JSON
//   CONFIG_JSON: {"clients": [...oidc-provider client metadata...],
//                 "accounts": {"login": {"sub": "...", "cccd": "..."}},
//                 "id_token_ttl": seconds}
// Interactions are plain HTML forms: GET /interaction/:uid shows a login form (field "login");
// POST /interaction/:uid/login signs that account in; consent is granted at once.
// Prints "ready <issuer>" on stdout once it listens on 127.0.0.1.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
const config = JSON.parse(readFileSync(process.argv[3], "utf8"));
const issuer = `http://127.0.0.1:${port}`;
const accounts = config.accounts;

const provider = new Provider(issuer, {
  clients: config.clients,
  pkce: { required: () => true },
  claims: { openid: ["sub"], profile: ["name"], cccd: ["cccd"] },
  scopes: ["openid", "profile", "cccd"],
  conformIdTokenClaims: false,
  ttl: { IdToken: config.id_token_ttl ?? 3600 },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = Object.values(accounts).find((a) => a.sub === id);
    if (!account) return undefined;
    return { accountId: id, async claims() { return { ...account }; } };
  },
});
provider.proxy = false;

function body(req) {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (chunk) => { data += chunk; });
    req.on("end", () => resolve(Object.fromEntries(new URLSearchParams(data))));
  });
}

const callback = provider.callback();
const server = (await import("node:http")).createServer(async (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === "GET" && !match[2]) {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end(`<!doctype html><title>Test provider</title><form method="post" action="/interaction/${details.uid}/login">` +
        `<label>Login <input name="login" id="login"></label><button type="submit">Sign in</button></form>`);
      return;
    }
    const form = await body(req);
    const account = accounts[form.login];
    if (!account) {
      res.statusCode = 400;
      res.end("unknown login");
      return;
    }
    const grant = new provider.Grant({ accountId: account.sub, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res,
      { login: { accountId: account.sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (err) {
    res.statusCode = 400;
    res.end(String(err));
  }
});
server.listen(port, "127.0.0.1", () => { console.log(`ready ${issuer}`); });
