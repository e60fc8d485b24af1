#!/usr/bin/env node
// Checks of the Kubernetes manifests in deploy/kubernetes and the Kubernetes scrape paths (ctest label "deploy").
//
//   node validate.js manifests  --repo SRC --deps DIR --kubectl KUBECTL
//   node validate.js self-test  --repo SRC --deps DIR --kubectl KUBECTL
//   node validate.js prometheus --repo SRC --deps DIR --promtool PROMTOOL --work DIR
//
// manifests: renders every directory under deploy/kubernetes/overlays (and base), and every component under
//   deploy/kubernetes/components on top of overlays/prod, with `kubectl kustomize`, reads
//   deploy/kubernetes/monitoring/*.yaml, and checks every object
//   * against the Kubernetes / Prometheus Operator OpenAPI schemas (npm kubernetes-models and
//     @kubernetes-models/prometheus-operator), plus unknown fields, which those schemas let through: each field is
//     replaced in turn by a value no schema accepts, and a field whose replacement still validates is unknown;
//   * against rules the schema cannot express: privileged with allowPrivilegeEscalation=false (the API server
//     rejects it) or with capability lists (pointless); liveness and readiness probes on a declared container
//     port; nodeSelector kubernetes.io/os=linux; AppArmor annotation and field agreeing; no prometheus.io/scrape
//     annotation (it would make an annotation-discovery job scrape the agent a second time); the Service and the
//     monitors selecting the pods and naming declared ports; the monitors' relabelling giving job="memsight" and
//     instance=<node name>; the ConfigMap's memsight.yaml parsing, with only keys documented in
//     docs/configuration.md and the overlay's profile; CronJobs (the reports component): not root, drop ALL, AppArmor,
//     Forbid concurrency, and every ConfigMap and claim they use part of the manifests.
// self-test: the same checks on broken copies of the rendered prod overlay; each copy must fail.
// prometheus: deploy/prometheus/prometheus-kubernetes.yml with promtool (Debian's promtool lacks Kubernetes
//   discovery: then a copy whose kubernetes_sd_configs are replaced by a static target is checked) and its
//   relabelling result.
"use strict";

const fs = require("fs");
const path = require("path");
const os = require("os");
const { execFileSync, spawnSync } = require("child_process");
const { createRequire } = require("module");

function parseArgs(argv) {
  const args = { mode: argv[0] };
  for (let i = 1; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
for (const need of ["repo", "deps"]) {
  if (!args[need]) {
    console.error(`validate.js: --${need} is required`);
    process.exit(2);
  }
}
let depsRequire;
let YAML;
try {
  depsRequire = createRequire(path.join(path.resolve(args.deps), "package.json"));
  YAML = depsRequire("yaml");
} catch (e) {
  console.error(`validate.js: npm packages not found under ${args.deps}/node_modules (run npm ci there): ${e.message}`);
  process.exit(1);
}

const REPO = path.resolve(args.repo);
const K8S_DIR = path.join(REPO, "deploy/kubernetes");
const PROM_DIR = path.join(REPO, "deploy/prometheus");
const REQUIRED_OVERLAYS = ["dev", "staging", "prod", "privileged"];
const PROFILES = ["dev", "staging", "prod"];

// ---------------------------------------------------------------------------------------------------------------
// Schemas

const MODEL_MODULES = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

function modelClass(obj) {
  const mod = MODEL_MODULES[obj.apiVersion];
  if (!mod) return null;
  const cls = depsRequire(mod)[obj.kind];
  return typeof cls === "function" ? cls : null;
}

function schemaErrors(cls, obj) {
  try {
    new cls(obj).validate();
    return null;
  } catch (e) {
    return e.message || String(e);
  }
}

// The generated schemas do not reject unknown properties. Probe each property: replace its value by a Symbol, which
// no JSON schema type accepts. A declared field (or a map entry with a typed value) then fails validation; an
// undeclared one still validates.
const PROBE = Symbol("probe");
function unknownFields(cls, root) {
  const found = [];
  const walk = (node, at) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, [...at, i]));
    } else if (node && typeof node === "object") {
      for (const key of Object.keys(node)) {
        const copy = structuredClone(root);
        let parent = copy;
        for (const seg of at) parent = parent[seg];
        parent[key] = PROBE;
        if (schemaErrors(cls, copy) === null) found.push("/" + [...at, key].join("/"));
        else walk(node[key], [...at, key]);
      }
    }
  };
  walk(root, []);
  return found;
}

function checkSchema(obj, where) {
  const problems = [];
  const cls = modelClass(obj);
  if (!cls) return [`${where}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`];
  const err = schemaErrors(cls, obj);
  if (err) return [`${where}: schema: ${err}`];
  for (const f of unknownFields(cls, obj)) problems.push(`${where}: unknown field ${f}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Prometheus relabelling (the subset the manifests use: replace, keep, drop, labeldrop, labelkeep, labelmap)

function expand(template, match) {
  return template.replace(/\$\{(\w+)\}|\$(\d+)/g, (_, a, b) => match[Number(a ?? b)] ?? "");
}

function relabel(labels, rules, camel) {
  let out = { ...labels };
  for (const r of rules) {
    const get = (snake, cml) => r[camel ? cml : snake];
    const action = (get("action", "action") || "replace").toLowerCase();
    const regex = new RegExp(`^(?:${get("regex", "regex") ?? "(.*)"})$`);
    const sep = get("separator", "separator") ?? ";";
    const value = (get("source_labels", "sourceLabels") || []).map((l) => out[l] ?? "").join(sep);
    const target = get("target_label", "targetLabel");
    const replacement = get("replacement", "replacement") ?? "$1";
    if (action === "replace") {
      const m = value.match(regex);
      if (m && target) {
        const v = expand(replacement, m);
        if (v === "") delete out[target];
        else out[target] = v;
      }
    } else if (action === "keep") {
      if (!regex.test(value)) return null;
    } else if (action === "drop") {
      if (regex.test(value)) return null;
    } else if (action === "labeldrop") {
      for (const k of Object.keys(out)) if (regex.test(k)) delete out[k];
    } else if (action === "labelkeep") {
      for (const k of Object.keys(out)) if (!regex.test(k)) delete out[k];
    } else if (action === "labelmap") {
      for (const k of Object.keys(out)) {
        const m = k.match(regex);
        if (m) out[expand(replacement, m)] = out[k];
      }
    } else {
      throw new Error(`relabel action ${action} not supported by this checker`);
    }
  }
  return out;
}

// What Prometheus keeps of a target after relabelling: no __ labels, instance defaulting to __address__.
function finalLabels(labels) {
  if (labels === null) return null;
  const out = {};
  for (const [k, v] of Object.entries(labels)) if (!k.startsWith("__")) out[k] = v;
  if (!("instance" in out) && labels.__address__) out.instance = labels.__address__;
  return out;
}

// Labels the agent's series must not carry from its own pod: they would clash with the kube-state-metrics joins.
const FORBIDDEN_TARGET_LABELS = ["namespace", "pod", "container", "service", "endpoint"];

function checkScrapeLabels(labels, where) {
  const problems = [];
  if (labels === null) return [`${where}: the agent's target is dropped by the relabelling`];
  if (labels.job !== "memsight") problems.push(`${where}: job is "${labels.job}", not "memsight"`);
  if (labels.instance !== "node-a") problems.push(`${where}: instance is "${labels.instance}", not the node name`);
  for (const l of FORBIDDEN_TARGET_LABELS)
    if (l in labels) problems.push(`${where}: the target keeps the agent pod's own label ${l}`);
  return problems;
}

// Meta labels Prometheus attaches to a target of the agent pod on node "node-a".
function podTargetMeta(pod, container, port) {
  return {
    __address__: `10.1.0.9:${port.containerPort}`,
    __metrics_path__: "/metrics",
    __scheme__: "http",
    __meta_kubernetes_namespace: "memsight",
    __meta_kubernetes_pod_name: "memsight-x7k2p",
    __meta_kubernetes_pod_node_name: "node-a",
    __meta_kubernetes_pod_ip: "10.1.0.9",
    __meta_kubernetes_pod_container_name: container.name,
    __meta_kubernetes_pod_container_port_name: port.name ?? "",
    __meta_kubernetes_pod_container_port_number: String(port.containerPort),
    __meta_kubernetes_pod_ready: "false",
    ...Object.fromEntries(
      Object.entries(pod.metadata?.labels ?? {}).map(([k, v]) => [
        `__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`,
        v,
      ]),
    ),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// memsight.yaml against docs/configuration.md

function documentedKeys() {
  const text = fs.readFileSync(path.join(REPO, "docs/configuration.md"), "utf8");
  // The default file the docs show (generated from the key table, userspace/config/keys.cpp): every key.
  const m = text.match(/^<!-- default-yaml:begin -->\s*\n```yaml\n([\s\S]*?)\n```\s*\n<!-- default-yaml:end -->/m);
  if (!m) throw new Error("docs/configuration.md: no ```yaml block between <!-- default-yaml:begin/end -->");
  return YAML.parse(m[1]);
}

function checkMemsightConfig(text, where, docKeys, profile) {
  const problems = [];
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) return [`${where}: memsight.yaml does not parse: ${doc.errors[0].message}`];
  const cfg = doc.toJS();
  if (cfg === null || cfg === undefined) return problems; // an empty file is valid: all defaults
  if (typeof cfg !== "object" || Array.isArray(cfg)) return [`${where}: memsight.yaml is not a map`];
  const walk = (node, ref, at) => {
    for (const [k, v] of Object.entries(node)) {
      const key = at ? `${at}.${k}` : k;
      if (!(k in ref)) {
        problems.push(`${where}: memsight.yaml: key ${key} is not in docs/configuration.md`);
      } else if (ref[k] && typeof ref[k] === "object" && !Array.isArray(ref[k])) {
        if (v === null) continue; // an empty section keeps its defaults
        if (typeof v !== "object" || Array.isArray(v)) problems.push(`${where}: memsight.yaml: ${key} must be a map`);
        else walk(v, ref[k], key);
      }
    }
  };
  walk(cfg, docKeys, "");
  const p = cfg.profile ?? "prod";
  if (!PROFILES.includes(p)) problems.push(`${where}: memsight.yaml: profile "${p}" is not one of ${PROFILES.join(", ")}`);
  if (profile && p !== profile) problems.push(`${where}: memsight.yaml: profile is "${p}", the overlay is "${profile}"`);
  return { problems, cfg };
}

// ---------------------------------------------------------------------------------------------------------------
// Policy checks on one rendered set of objects

function matches(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => (labels ?? {})[k] === v);
}

function probePort(probe) {
  return probe.httpGet?.port ?? probe.tcpSocket?.port ?? probe.grpc?.port;
}

function checkPodTemplate(workload, objects, where, docKeys, profile) {
  const problems = [];
  const tmpl = workload.spec?.template ?? {};
  const spec = tmpl.spec ?? {};
  const annotations = tmpl.metadata?.annotations ?? {};
  if (spec.nodeSelector?.["kubernetes.io/os"] !== "linux")
    problems.push(`${where}: nodeSelector kubernetes.io/os: linux is missing`);
  for (const a of Object.keys(annotations))
    if (a.startsWith("prometheus.io/"))
      problems.push(`${where}: annotation ${a}: annotation discovery would scrape the agent a second time`);
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const cw = `${where} container ${c.name}`;
    const sc = c.securityContext ?? {};
    if (sc.privileged === true) {
      if (sc.allowPrivilegeEscalation === false)
        problems.push(`${cw}: privileged: true with allowPrivilegeEscalation: false (the API server rejects it)`);
      if (sc.capabilities?.add?.length || sc.capabilities?.drop?.length)
        problems.push(`${cw}: capability lists with privileged: true are pointless (a privileged container has all)`);
    } else if (!(sc.capabilities?.drop ?? []).includes("ALL")) {
      problems.push(`${cw}: capabilities.drop must contain ALL (add back only what is needed)`);
    }
    const ann = annotations[`container.apparmor.security.beta.kubernetes.io/${c.name}`];
    const field = sc.appArmorProfile?.type ?? spec.securityContext?.appArmorProfile?.type;
    if (ann === undefined || field === undefined) {
      problems.push(`${cw}: needs both the AppArmor annotation (clusters < 1.30) and securityContext.appArmorProfile`);
    } else {
      const asField = { unconfined: "Unconfined", "runtime/default": "RuntimeDefault" }[ann] ??
        (ann.startsWith("localhost/") ? "Localhost" : "?");
      if (asField !== field) problems.push(`${cw}: AppArmor annotation "${ann}" disagrees with appArmorProfile ${field}`);
    }
    const ports = c.ports ?? [];
    const declared = (p) =>
      typeof p === "number" ? ports.some((x) => x.containerPort === p) : ports.some((x) => x.name === p);
    for (const kind of ["livenessProbe", "readinessProbe", "startupProbe"]) {
      const probe = c[kind];
      if (!probe) {
        if (kind !== "startupProbe") problems.push(`${cw}: no ${kind}`);
        continue;
      }
      const port = probePort(probe);
      if (port === undefined) problems.push(`${cw}: ${kind} has no httpGet/tcpSocket/grpc port`);
      else if (!declared(port)) problems.push(`${cw}: ${kind} port ${port} is not a declared container port`);
    }
    if (c.name === "memsight") {
      const want = { livenessProbe: "/healthz", readinessProbe: "/readyz" };
      for (const [kind, p] of Object.entries(want))
        if (c[kind] && c[kind].httpGet?.path !== p) problems.push(`${cw}: ${kind} must be httpGet ${p}`);
    }
  }
  // The config volume: a ConfigMap of this set, whose memsight.yaml is valid and listens on the container port.
  for (const v of spec.volumes ?? []) {
    if (!v.configMap) continue;
    const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata?.name === v.configMap.name);
    if (!cm) {
      problems.push(`${where}: volume ${v.name}: ConfigMap ${v.configMap.name} is not part of the manifests`);
      continue;
    }
    const text = cm.data?.["memsight.yaml"];
    if (text === undefined) {
      problems.push(`${where}: ConfigMap ${cm.metadata.name} has no memsight.yaml`);
      continue;
    }
    const res = checkMemsightConfig(text, `${where} ConfigMap ${cm.metadata.name}`, docKeys, profile);
    if (Array.isArray(res)) {
      problems.push(...res);
      continue;
    }
    problems.push(...res.problems);
    const listen = String(res.cfg.listen ?? "127.0.0.1:9756");
    const lm = listen.match(/^(.*):(\d+)$/);
    const agent = (spec.containers ?? []).find((c) => c.name === "memsight");
    if (!lm || !["0.0.0.0", "[::]"].includes(lm[1]))
      problems.push(`${where}: memsight.yaml listen ${listen}: the kubelet and Prometheus reach the pod IP, listen on 0.0.0.0`);
    else if (agent && !(agent.ports ?? []).some((p) => p.containerPort === Number(lm[2])))
      problems.push(`${where}: memsight.yaml listens on port ${lm[2]}, which the container does not declare`);
  }
  return problems;
}

// A CronJob (the scheduled reports): a job that only talks HTTP and writes files, so it runs as non-root with nothing
// added, under the runtime's default AppArmor and seccomp profiles, one run at a time, and everything it refers to
// (ConfigMaps, claims) is rendered with it.
function checkCronJob(cj, objects, where) {
  const problems = [];
  if (cj.spec?.concurrencyPolicy !== "Forbid") problems.push(`${where}: concurrencyPolicy must be Forbid`);
  const tmpl = cj.spec?.jobTemplate?.spec?.template ?? {};
  const spec = tmpl.spec ?? {};
  const annotations = tmpl.metadata?.annotations ?? {};
  if (!["OnFailure", "Never"].includes(spec.restartPolicy)) problems.push(`${where}: restartPolicy must be OnFailure or Never`);
  if (spec.nodeSelector?.["kubernetes.io/os"] !== "linux") problems.push(`${where}: nodeSelector kubernetes.io/os: linux is missing`);
  if (spec.hostPID || spec.hostNetwork) problems.push(`${where}: a report job needs no host namespace`);
  const has = (kind, name) => objects.some((o) => o.kind === kind && o.metadata?.name === name);
  for (const c of spec.containers ?? []) {
    const cw = `${where} container ${c.name}`;
    const sc = c.securityContext ?? {};
    if (sc.privileged) problems.push(`${cw}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${cw}: allowPrivilegeEscalation must be false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL") || (sc.capabilities?.add ?? []).length)
      problems.push(`${cw}: capabilities must drop ALL and add nothing`);
    if ((sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot) !== true || (sc.runAsUser ?? spec.securityContext?.runAsUser) === 0)
      problems.push(`${cw}: must run as non-root (runAsNonRoot: true)`);
    const ann = annotations[`container.apparmor.security.beta.kubernetes.io/${c.name}`];
    const field = sc.appArmorProfile?.type ?? spec.securityContext?.appArmorProfile?.type;
    if (ann !== "runtime/default" || field !== "RuntimeDefault")
      problems.push(`${cw}: AppArmor must be runtime/default in both the annotation and securityContext.appArmorProfile`);
    for (const e of c.envFrom ?? [])
      if (e.configMapRef && !has("ConfigMap", e.configMapRef.name))
        problems.push(`${cw}: envFrom ConfigMap ${e.configMapRef.name} is not part of the manifests`);
  }
  for (const v of spec.volumes ?? []) {
    if (v.configMap && !has("ConfigMap", v.configMap.name))
      problems.push(`${where}: volume ${v.name}: ConfigMap ${v.configMap.name} is not part of the manifests`);
    if (v.persistentVolumeClaim && !has("PersistentVolumeClaim", v.persistentVolumeClaim.claimName))
      problems.push(`${where}: volume ${v.name}: claim ${v.persistentVolumeClaim.claimName} is not part of the manifests`);
  }
  return problems;
}

function checkObjects(objects, where, docKeys, profile) {
  const problems = [];
  const workloads = objects.filter((o) => ["DaemonSet", "Deployment", "StatefulSet"].includes(o.kind));
  for (const o of objects) problems.push(...checkSchema(o, `${where}: ${o.kind}/${o.metadata?.name}`));
  if (!workloads.some((o) => o.kind === "DaemonSet" && o.metadata?.name === "memsight"))
    problems.push(`${where}: no DaemonSet memsight`);
  for (const w of workloads)
    problems.push(...checkPodTemplate(w, objects, `${where}: ${w.kind}/${w.metadata?.name}`, docKeys, profile));
  for (const cj of objects.filter((o) => o.kind === "CronJob"))
    problems.push(...checkCronJob(cj, objects, `${where}: CronJob/${cj.metadata?.name}`));
  const ds = workloads.find((o) => o.metadata?.name === "memsight");
  for (const svc of objects.filter((o) => o.kind === "Service")) {
    const sw = `${where}: Service/${svc.metadata?.name}`;
    if (!ds || !matches(svc.spec?.selector, ds.spec?.template?.metadata?.labels))
      problems.push(`${sw}: its selector does not select the agent pods`);
    const names = (ds?.spec?.template?.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name));
    for (const p of svc.spec?.ports ?? [])
      if (typeof p.targetPort === "string" && !names.includes(p.targetPort))
        problems.push(`${sw}: targetPort ${p.targetPort} is not a container port name`);
  }
  return problems;
}

function checkMonitors(monitors, objects, where) {
  const problems = [];
  const ds = objects.find((o) => o.kind === "DaemonSet" && o.metadata?.name === "memsight");
  const svc = objects.find((o) => o.kind === "Service" && o.metadata?.name === "memsight");
  const pod = ds?.spec?.template ?? {};
  const agent = (pod.spec?.containers ?? []).find((c) => c.name === "memsight") ?? { ports: [] };
  const kinds = monitors.map((m) => m.kind).sort();
  if (kinds.join(",") !== "PodMonitor,ServiceMonitor")
    problems.push(`${where}: expected one ServiceMonitor and one PodMonitor, found ${kinds.join(", ") || "none"}`);
  for (const m of monitors) {
    const mw = `${where}: ${m.kind}/${m.metadata?.name}`;
    problems.push(...checkSchema(m, mw));
    const ns = m.spec?.namespaceSelector?.matchNames ?? [m.metadata?.namespace];
    if (!ns.includes(ds?.metadata?.namespace)) problems.push(`${mw}: does not look in namespace ${ds?.metadata?.namespace}`);
    const endpoints = m.kind === "ServiceMonitor" ? m.spec?.endpoints : m.spec?.podMetricsEndpoints;
    const selected = m.kind === "ServiceMonitor" ? svc?.metadata?.labels : pod.metadata?.labels;
    if (!matches(m.spec?.selector?.matchLabels, selected))
      problems.push(`${mw}: its selector does not select the ${m.kind === "ServiceMonitor" ? "Service" : "agent pods"}`);
    for (const [i, ep] of (endpoints ?? []).entries()) {
      const ew = `${mw} endpoint ${i}`;
      let port;
      if (m.kind === "ServiceMonitor") {
        const sp = (svc?.spec?.ports ?? []).find((p) => p.name === ep.port);
        if (!sp) problems.push(`${ew}: port ${ep.port} is not a port of Service memsight`);
        port = (agent.ports ?? []).find((p) => p.name === sp?.targetPort || p.containerPort === sp?.targetPort);
      } else {
        port = (agent.ports ?? []).find((p) => p.name === ep.port);
        if (!port) problems.push(`${ew}: port ${ep.port} is not a container port of the agent`);
      }
      if (!port) continue;
      // The operator's own target labels come before the user's relabelings.
      const start = {
        ...podTargetMeta(pod, agent, port),
        job: m.kind === "ServiceMonitor" ? "memsight" : "memsight/memsight",
        namespace: "memsight",
        pod: "memsight-x7k2p",
        container: agent.name,
        endpoint: port.name,
        ...(m.kind === "ServiceMonitor" ? { service: "memsight" } : {}),
      };
      try {
        problems.push(...checkScrapeLabels(finalLabels(relabel(start, ep.relabelings ?? [], true)), ew));
      } catch (e) {
        problems.push(`${ew}: ${e.message}`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs

function render(dir) {
  if (!args.kubectl) throw new Error("--kubectl is required");
  const out = execFileSync(args.kubectl, ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return YAML.parseAllDocuments(out).map((d) => d.toJS()).filter((o) => o);
}

// A component cannot be rendered alone: render it on top of overlays/prod from a temporary kustomization (kustomize
// wants relative paths).
function renderComponent(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memsight-k8s-component-"));
  try {
    const rel = (p) => path.relative(dir, p);
    fs.writeFileSync(
      path.join(dir, "kustomization.yaml"),
      YAML.stringify({
        apiVersion: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: [rel(path.join(K8S_DIR, "overlays/prod"))],
        components: [rel(path.join(K8S_DIR, "components", name))],
      }),
    );
    return render(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function components() {
  const dir = path.join(K8S_DIR, "components");
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

function variants() {
  const overlays = fs
    .readdirSync(path.join(K8S_DIR, "overlays"), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const missing = REQUIRED_OVERLAYS.filter((o) => !overlays.includes(o));
  if (missing.length) throw new Error(`deploy/kubernetes/overlays: missing ${missing.join(", ")}`);
  return [
    { name: "base", dir: path.join(K8S_DIR, "base"), profile: "prod" },
    ...overlays.map((o) => ({
      name: `overlays/${o}`,
      dir: path.join(K8S_DIR, "overlays", o),
      profile: PROFILES.includes(o) ? o : null,
    })),
  ];
}

function readMonitors() {
  const dir = path.join(K8S_DIR, "monitoring");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8")).map((d) => d.toJS()))
    .filter((o) => o);
}

// ---------------------------------------------------------------------------------------------------------------
// Modes

function runManifests() {
  const docKeys = documentedKeys();
  const problems = [];
  let prod = null;
  const all = [...variants(), ...components().map((c) => ({ name: `components/${c}`, component: c, profile: "prod" }))];
  for (const v of all) {
    let objects;
    try {
      objects = v.component ? renderComponent(v.component) : render(v.dir);
    } catch (e) {
      problems.push(`${v.name}: kubectl kustomize failed: ${(e.stderr || e.message).toString().trim()}`);
      continue;
    }
    const p = checkObjects(objects, v.name, docKeys, v.profile);
    console.log(`${p.length ? "FAIL" : "ok  "} ${v.name}: ${objects.length} objects (${objects.map((o) => o.kind).join(", ")})`);
    problems.push(...p);
    if (v.name === "overlays/prod") prod = objects;
    if (v.name === "components/reports" && objects.filter((o) => o.kind === "CronJob").length !== 2)
      problems.push(`${v.name}: expected the daily and the weekly CronJob`);
    if (v.name === "overlays/privileged") {
      const c = objects.find((o) => o.kind === "DaemonSet")?.spec?.template?.spec?.containers?.[0];
      if (c?.securityContext?.privileged !== true) problems.push(`${v.name}: the agent container is not privileged`);
    }
  }
  if (prod) {
    const monitors = readMonitors();
    const p = checkMonitors(monitors, prod, "monitoring");
    console.log(`${p.length ? "FAIL" : "ok  "} monitoring: ${monitors.map((m) => m.kind).join(", ")}`);
    problems.push(...p);
  }
  return problems;
}

function runSelfTest() {
  const docKeys = documentedKeys();
  const base = render(path.join(K8S_DIR, "overlays/prod"));
  const monitors = readMonitors();
  const clean = [...checkObjects(base, "prod", docKeys, "prod"), ...checkMonitors(monitors, base, "monitoring")];
  if (clean.length) return ["the unmodified prod overlay must pass before broken copies mean anything:", ...clean];

  const agentOf = (objs) => objs.find((o) => o.kind === "DaemonSet").spec.template.spec.containers[0];
  const podOf = (objs) => objs.find((o) => o.kind === "DaemonSet").spec.template;
  const cmOf = (objs) => objs.find((o) => o.kind === "ConfigMap");
  const cases = [
    ["typo'd field securityContex", (o) => {
      const c = agentOf(o);
      c.securityContex = c.securityContext;
      delete c.securityContext;
    }, /unknown field .*securityContex$/m],
    ["typo'd field deep in the pod spec (hostPid)", (o) => {
      podOf(o).spec.hostPid = true;
    }, /unknown field \/spec\/template\/spec\/hostPid/],
    ["wrong type: privileged as a string", (o) => {
      agentOf(o).securityContext.privileged = "true";
    }, /privileged must be boolean/],
    ["wrong type: containerPort as a string", (o) => {
      agentOf(o).ports[0].containerPort = "9756";
    }, /containerPort must be integer/],
    ["privileged with allowPrivilegeEscalation: false", (o) => {
      agentOf(o).securityContext.privileged = true;
    }, /allowPrivilegeEscalation: false \(the API server rejects it\)/],
    ["privileged with capability lists", (o) => {
      const sc = agentOf(o).securityContext;
      sc.privileged = true;
      delete sc.allowPrivilegeEscalation;
    }, /capability lists with privileged: true are pointless/],
    ["capabilities without drop ALL", (o) => {
      agentOf(o).securityContext.capabilities.drop = [];
    }, /capabilities.drop must contain ALL/],
    ["no liveness probe", (o) => {
      delete agentOf(o).livenessProbe;
    }, /no livenessProbe/],
    ["no readiness probe", (o) => {
      delete agentOf(o).readinessProbe;
    }, /no readinessProbe/],
    ["readiness probe on an undeclared port", (o) => {
      agentOf(o).readinessProbe.httpGet.port = "metric";
    }, /readinessProbe port metric is not a declared container port/],
    ["liveness probe on an undeclared port number", (o) => {
      agentOf(o).livenessProbe.httpGet.port = 8080;
    }, /livenessProbe port 8080 is not a declared container port/],
    ["readiness probe on /metrics", (o) => {
      agentOf(o).readinessProbe.httpGet.path = "/metrics";
    }, /readinessProbe must be httpGet \/readyz/],
    ["no nodeSelector", (o) => {
      delete podOf(o).spec.nodeSelector;
    }, /nodeSelector kubernetes.io\/os: linux is missing/],
    ["AppArmor annotation disagreeing with the field", (o) => {
      podOf(o).metadata.annotations["container.apparmor.security.beta.kubernetes.io/memsight"] = "runtime/default";
    }, /disagrees with appArmorProfile/],
    ["prometheus.io/scrape annotation", (o) => {
      podOf(o).metadata.annotations["prometheus.io/scrape"] = "true";
    }, /prometheus.io\/scrape: annotation discovery/],
    ["memsight.yaml that does not parse", (o) => {
      cmOf(o).data["memsight.yaml"] = "profile: prod\nlisten: [0.0.0.0:9756\n";
    }, /memsight.yaml does not parse/],
    ["memsight.yaml with a key twice", (o) => {
      cmOf(o).data["memsight.yaml"] += "profile: dev\n";
    }, /memsight.yaml does not parse/],
    ["memsight.yaml with an undocumented key", (o) => {
      cmOf(o).data["memsight.yaml"] += "proccesses:\n  top_by_rss: 5\n";
    }, /key proccesses is not in docs\/configuration.md/],
    ["memsight.yaml with an undocumented nested key", (o) => {
      cmOf(o).data["memsight.yaml"] += "kernel:\n  page_faults:\n    period: 5\n";
    }, /key kernel.page_faults.period is not in docs/],
    ["memsight.yaml with another overlay's profile", (o) => {
      cmOf(o).data["memsight.yaml"] = cmOf(o).data["memsight.yaml"].replace("profile: prod", "profile: dev");
    }, /profile is "dev", the overlay is "prod"/],
    ["memsight.yaml listening on loopback", (o) => {
      cmOf(o).data["memsight.yaml"] = cmOf(o).data["memsight.yaml"].replace("listen: 0.0.0.0:9756", "listen: 127.0.0.1:9756");
    }, /listen 127.0.0.1:9756/],
    ["config volume naming a missing ConfigMap", (o) => {
      podOf(o).spec.volumes.find((v) => v.configMap).configMap.name = "memsight-config";
    }, /ConfigMap memsight-config is not part of the manifests/],
    ["Service selecting nothing", (o) => {
      o.find((x) => x.kind === "Service").spec.selector = { app: "memsight" };
    }, /selector does not select the agent pods/],
    ["an object of an unknown kind", (o) => {
      o.push({ apiVersion: "apps/v1", kind: "DaemonSett", metadata: { name: "x" } });
    }, /no schema for apiVersion apps\/v1 kind DaemonSett/],
  ];
  const monitorCases = [
    ["ServiceMonitor with a typo'd field relabellings", (m) => {
      const ep = m.find((x) => x.kind === "ServiceMonitor").spec.endpoints[0];
      ep.relabellings = ep.relabelings;
      delete ep.relabelings;
    }, /unknown field .*relabellings/],
    ["PodMonitor without the instance relabelling", (m) => {
      const ep = m.find((x) => x.kind === "PodMonitor").spec.podMetricsEndpoints[0];
      ep.relabelings = ep.relabelings.filter((r) => r.targetLabel !== "instance");
    }, /instance is "10.1.0.9:9756", not the node name/],
    ["ServiceMonitor keeping the agent pod's namespace label", (m) => {
      const ep = m.find((x) => x.kind === "ServiceMonitor").spec.endpoints[0];
      ep.relabelings = ep.relabelings.filter((r) => r.action !== "labeldrop");
    }, /keeps the agent pod's own label namespace/],
    ["PodMonitor on an undeclared port", (m) => {
      m.find((x) => x.kind === "PodMonitor").spec.podMetricsEndpoints[0].port = "http";
    }, /port http is not a container port/],
    ["both monitors missing", (m) => {
      m.length = 0;
    }, /expected one ServiceMonitor and one PodMonitor/],
  ];
  const reports = renderComponent("reports");
  const cleanReports = checkObjects(reports, "prod+reports", docKeys, "prod");
  if (cleanReports.length) return ["the unmodified prod overlay with the reports component must pass first:", ...cleanReports];
  const cronOf = (objs) => objs.find((o) => o.kind === "CronJob");
  const jobPod = (objs) => cronOf(objs).spec.jobTemplate.spec.template;
  const cronCases = [
    ["a report CronJob running as root", (o) => {
      jobPod(o).spec.securityContext.runAsNonRoot = false;
    }, /must run as non-root/],
    ["a report CronJob naming a missing settings ConfigMap", (o) => {
      jobPod(o).spec.containers[0].envFrom[0].configMapRef.name = "memsight-report-settings";
    }, /envFrom ConfigMap memsight-report-settings is not part of the manifests/],
    ["a report CronJob naming a missing claim", (o) => {
      jobPod(o).spec.volumes.find((v) => v.persistentVolumeClaim).persistentVolumeClaim.claimName = "reports";
    }, /claim reports is not part of the manifests/],
    ["a report CronJob allowing concurrent runs", (o) => {
      cronOf(o).spec.concurrencyPolicy = "Allow";
    }, /concurrencyPolicy must be Forbid/],
    ["a report CronJob with a typo'd field", (o) => {
      jobPod(o).spec.restartPolicyy = "Never";
    }, /unknown field .*restartPolicyy/],
  ];
  const problems = [];
  let n = 0;
  const expectFailure = (what, found, pattern) => {
    n += 1;
    const hit = found.some((p) => pattern.test(p));
    console.log(`${hit ? "ok  " : "FAIL"} rejects: ${what}${hit ? "" : ` (problems: ${found.join(" | ") || "none"})`}`);
    if (!hit) problems.push(`self-test: a manifest with ${what} was not rejected with ${pattern}`);
  };
  for (const [what, mutate, pattern] of cases) {
    const copy = structuredClone(base);
    mutate(copy);
    expectFailure(what, checkObjects(copy, "prod", docKeys, "prod"), pattern);
  }
  for (const [what, mutate, pattern] of cronCases) {
    const copy = structuredClone(reports);
    mutate(copy);
    expectFailure(what, checkObjects(copy, "prod+reports", docKeys, "prod"), pattern);
  }
  for (const [what, mutate, pattern] of monitorCases) {
    const copy = structuredClone(monitors);
    mutate(copy);
    expectFailure(what, checkMonitors(copy, base, "monitoring"), pattern);
  }
  // The plain-Prometheus job's relabelling check must fail too.
  const job = loadKubernetesJob();
  const broken = structuredClone(job);
  broken.relabel_configs = broken.relabel_configs.filter((r) => r.target_label !== "instance");
  expectFailure("a kubernetes_sd job without the instance relabelling", checkKubernetesJob(broken, base), /not the node name/);
  console.log(`self-test: ${n} broken copies`);
  return problems;
}

function loadKubernetesJob() {
  const cfg = YAML.parse(fs.readFileSync(path.join(PROM_DIR, "prometheus-kubernetes.yml"), "utf8"));
  const jobs = (cfg.scrape_configs ?? []).filter((j) => j.kubernetes_sd_configs);
  if (jobs.length !== 1) throw new Error("prometheus-kubernetes.yml: expected exactly one kubernetes_sd job");
  return jobs[0];
}

function checkKubernetesJob(job, objects) {
  const problems = [];
  const where = `prometheus-kubernetes.yml job ${job.job_name}`;
  const ds = objects.find((o) => o.kind === "DaemonSet" && o.metadata?.name === "memsight");
  const pod = ds.spec.template;
  for (const sd of job.kubernetes_sd_configs) {
    if (sd.role !== "pod") problems.push(`${where}: role ${sd.role}, expected pod`);
    if (sd.namespaces && !(sd.namespaces.names ?? []).includes(ds.metadata.namespace))
      problems.push(`${where}: does not look in namespace ${ds.metadata.namespace}`);
    for (const sel of sd.selectors ?? []) {
      for (const term of String(sel.label ?? "").split(",").filter((t) => t)) {
        const [k, v] = term.split("=");
        if ((pod.metadata.labels ?? {})[k] !== v) problems.push(`${where}: selector ${term} does not match the pods`);
      }
    }
  }
  // One target per container port; only the agent's metrics port may survive, with job/instance right.
  const kept = [];
  for (const c of pod.spec.containers) {
    for (const port of [...(c.ports ?? []), { name: "other", containerPort: 9999 }]) {
      const start = { ...podTargetMeta(pod, c, port), job: job.job_name };
      const out = finalLabels(relabel(start, job.relabel_configs ?? [], false));
      if (out) kept.push({ port, out });
    }
  }
  if (kept.length !== 1) problems.push(`${where}: ${kept.length} targets per agent pod survive relabelling, expected 1`);
  for (const k of kept) {
    if (k.port.containerPort !== 9756) problems.push(`${where}: keeps port ${k.port.containerPort}`);
    problems.push(...checkScrapeLabels(k.out, where));
  }
  return problems;
}

function runPrometheus() {
  const problems = [];
  const file = path.join(PROM_DIR, "prometheus-kubernetes.yml");
  if (!args.promtool) return ["--promtool is required"];
  const direct = spawnSync(args.promtool, ["check", "config", file], { encoding: "utf8", cwd: PROM_DIR });
  if (direct.error) return [`cannot run promtool (${args.promtool}): ${direct.error.message}`];
  const output = `${direct.stdout}${direct.stderr}`;
  if (direct.status === 0) {
    console.log("ok   promtool check config prometheus-kubernetes.yml (this promtool has Kubernetes discovery)");
  } else if (/field kubernetes_sd_configs not found/.test(output)) {
    // Debian's promtool: check everything else on a copy with a static target in place of the discovery block.
    const cfg = YAML.parse(fs.readFileSync(file, "utf8"));
    for (const job of cfg.scrape_configs ?? []) {
      if (job.kubernetes_sd_configs) {
        delete job.kubernetes_sd_configs;
        job.static_configs = [{ targets: ["memsight-agent.invalid:9756"] }];
      }
    }
    cfg.rule_files = (cfg.rule_files ?? []).map((f) => path.resolve(PROM_DIR, f));
    const work = args.work || fs.mkdtempSync(path.join(os.tmpdir(), "memsight-prom-"));
    fs.mkdirSync(work, { recursive: true });
    const copy = path.join(work, "prometheus-kubernetes.static.yml");
    fs.writeFileSync(copy, YAML.stringify(cfg));
    const r = spawnSync(args.promtool, ["check", "config", copy], { encoding: "utf8", cwd: work });
    if (r.status !== 0) problems.push(`promtool check config ${copy} failed:\n${r.stdout}${r.stderr}`);
    else
      console.log(
        "ok   promtool check config on a copy with kubernetes_sd_configs replaced by a static target " +
          "(this promtool is built without Kubernetes discovery: it said 'field kubernetes_sd_configs not found')",
      );
  } else {
    problems.push(`promtool check config prometheus-kubernetes.yml failed:\n${output}`);
  }
  const p = checkKubernetesJob(loadKubernetesJob(), render(path.join(K8S_DIR, "overlays/prod")));
  console.log(`${p.length ? "FAIL" : "ok  "} relabelling: one target per agent pod, job="memsight", instance=<node>`);
  problems.push(...p);
  return problems;
}

let problems;
try {
  if (args.mode === "manifests") problems = runManifests();
  else if (args.mode === "self-test") problems = runSelfTest();
  else if (args.mode === "prometheus") problems = runPrometheus();
  else {
    console.error("usage: validate.js manifests|self-test|prometheus --repo SRC --deps DIR [--kubectl K] [--promtool P] [--work DIR]");
    process.exit(2);
  }
} catch (e) {
  problems = [`${e.message}${e.stderr ? `\n${e.stderr}` : ""}`];
}
for (const p of problems) console.log(`validate.js: ${p}`);
if (problems.length) {
  console.log(`validate.js ${args.mode}: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`validate.js ${args.mode}: OK`);
