# agentauth: runs the TypeScript sources directly on Node 24 (built-in type stripping, no build step).
FROM node:24.11.1-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY cli ./cli
COPY config ./config
COPY adapters ./adapters
COPY grants ./grants
COPY issuance ./issuance
COPY tokens ./tokens
COPY policy ./policy
COPY keys ./keys
COPY server ./server
# The operator's CLI is in the image: `docker compose exec agentauth agentauth agents list`.
RUN ln -s /app/bin/agentauth.mjs /usr/local/bin/agentauth
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:3000/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/start.mjs"]
