// SPDX-License-Identifier: Apache-2.0
// Links the `ecps` bin into the root's node_modules/.bin, so `pnpm ecps <command>` (and `npx ecps`) work from the
// repository root without pnpm printing a script banner on stdout. The edge is added here, at install time, rather than
// in the root package.json: turbo hashes every file of the root's workspace dependencies into the global hash, so a
// root dependency on the CLI would invalidate every cached task on any change anywhere.
module.exports = {
  hooks: {
    readPackage(pkg) {
      if (pkg.name === 'ecps-monorepo') pkg.devDependencies = { ...pkg.devDependencies, '@ecps/cli': 'workspace:*' };
      return pkg;
    },
  },
};
