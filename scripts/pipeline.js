#!/usr/bin/env node
// The `pipeline` CLI. The commands are TypeScript, loaded through tsx so that no build step stands between a clone
// and a run.
// The lockfile pins the SDK, so its notice about future releases needing Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('./cli/main.ts');
