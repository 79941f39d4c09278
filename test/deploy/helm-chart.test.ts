// The Helm chart rendered for its default values (and with its optional parts off): what Kubernetes gets must
// probe the health endpoints, expose the port, carry the operator contract's variables, and inline no secret.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderChart } from '../support/chart-renderer.ts';

const CHART = fileURLToPath(new URL('../../deploy/helm/agentauth', import.meta.url));
const SECRET_VARIABLES = ['ADMIN_TOKEN', 'REDIS_URL', 'DATABASE_URL'];

describe('the Helm chart', () => {
  const documents = renderChart(CHART, 'auth');
  const byKind = (kind: string) => documents.filter((document) => document.kind === kind);

  it('renders a Deployment, Service, ConfigMap, HPA and PodDisruptionBudget, and no Secret of its own', () => {
    expect(documents.map((document) => document.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  });

  it('probes /healthz for liveness and /readyz for readiness on the container port the Service targets', () => {
    const [deployment] = byKind('Deployment');
    const [container] = deployment.spec.template.spec.containers;
    expect(container.ports).toEqual([{ name: 'http', containerPort: 3000 }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const [service] = byKind('Service');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  it('configures production from the contract: plain settings in the ConfigMap, credentials only by Secret reference', () => {
    const [config] = byKind('ConfigMap');
    expect(config.data).toEqual({ NODE_ENV: 'production', PORT: '3000', ISSUER: 'https://auth.example.com', TRUST_PROXY: 'true', REDIS_KEY_PREFIX: 'agentauth:' });
    const [container] = byKind('Deployment')[0].spec.template.spec.containers;
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'auth-config' } }]);
    expect(container.env).toEqual(SECRET_VARIABLES.map((name) => ({ name, valueFrom: { secretKeyRef: { name: 'agentauth', key: name } } })));
    for (const document of documents) {
      const text = JSON.stringify(document);
      for (const variable of SECRET_VARIABLES) expect(text).not.toMatch(new RegExp(`"${variable}":"`));
      expect(text).not.toMatch(/redis:\/\/|postgres(ql)?:\/\//);
    }
  });

  it('gives a drain its time and keeps one pod through voluntary disruptions', () => {
    const [deployment] = byKind('Deployment');
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBe(30);
    expect(byKind('PodDisruptionBudget')[0].spec).toMatchObject({ minAvailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } });
    expect(byKind('HorizontalPodAutoscaler')[0].spec).toMatchObject({ minReplicas: 2, maxReplicas: 10, scaleTargetRef: { kind: 'Deployment', name: 'auth' } });
  });

  it('leaves out the autoscaler and the disruption budget when they are switched off', () => {
    const kinds = renderChart(CHART, 'auth', { autoscaling: { enabled: false }, podDisruptionBudget: { enabled: false } }).map((document) => document.kind);
    expect(kinds.sort()).toEqual(['ConfigMap', 'Deployment', 'Service']);
  });
});
