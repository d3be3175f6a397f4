// SPDX-License-Identifier: Apache-2.0
// Every generated SW4RM message, enum and service, one namespace per proto package (sw4rm.<pkg>).
export * from './gen/index.sw4rm';
