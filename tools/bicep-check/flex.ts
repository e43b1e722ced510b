/**
 * Site properties and app settings that are deprecated on the Flex Consumption plan: "App settings reference
 * for Azure Functions", section "Flex Consumption plan deprecations",
 * https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
 * ("these site properties and application settings are deprecated and shouldn't be used when creating
 * resources for function apps in a Flex Consumption plan"; the "Flex Consumption plan" article repeats it:
 * https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations).
 *
 * The table below is the Microsoft table as published for Flex Consumption (read verbatim: property/setting
 * and reason). The entries marked `later` were added to the section afterwards; the copy of the section
 * available offline here predates them, and they are taken from quotations of the current section
 * (WEBSITE_RUN_FROM_PACKAGE, ENABLE_ORYX_BUILD, SCM_DO_BUILD_DURING_DEPLOYMENT,
 * WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT). Newer regional stamps answer a site PUT that carries a deprecated
 * property with ARM BadRequest (e.g. "The following app setting (Site.SiteConfig.AppSettings.
 * FUNCTIONS_WORKER_RUNTIME) for Flex Consumption sites is invalid"), so the check refuses all of them.
 *
 * The `properties.x` names of the doc are checked both on the site's `properties` and on
 * `properties.siteConfig` (ftpsState, alwaysOn, linuxFxVersion... live in siteConfig), case-insensitively.
 */

export interface Deprecation {
  name: string;
  reason: string;
  later?: true;
}

export const FLEX_DEPRECATED_SITE_PROPERTIES: readonly Deprecation[] = [
  { name: 'ftpsState', reason: 'FTPS not supported' },
  { name: 'use32BitWorkerProcess', reason: '32-bit not supported' },
  { name: 'isReserved', reason: 'Not valid' },
  { name: 'IsXenon', reason: 'Not valid' },
  { name: 'windowsFxVersion', reason: 'Not valid' },
  { name: 'alwaysOn', reason: 'Not valid' },
  { name: 'preWarmedInstanceCount', reason: 'Renamed as alwaysReadyInstances (functionAppConfig.scaleAndConcurrency)' },
  { name: 'functionAppScaleLimit', reason: 'Renamed as maximumInstanceCount' },
  { name: 'containerSize', reason: 'Renamed as instanceMemoryMB' },
  { name: 'javaVersion', reason: 'Replaced by version in properties.functionAppConfig.runtime' },
  { name: 'powerShellVersion', reason: 'Replaced by version in properties.functionAppConfig.runtime' },
  { name: 'netFrameworkVersion', reason: 'Replaced by version in properties.functionAppConfig.runtime' },
  { name: 'LinuxFxVersion', reason: 'Replaced by properties.functionAppConfig.runtime' },
];

export const FLEX_DEPRECATED_APP_SETTINGS: readonly Deprecation[] = [
  { name: 'WEBSITE_NODE_DEFAULT_VERSION', reason: 'Replaced by version in properties.functionAppConfig.runtime' },
  { name: 'FUNCTIONS_EXTENSION_VERSION', reason: 'App Setting will be set by the backend to the right value' },
  { name: 'FUNCTIONS_WORKER_RUNTIME', reason: 'Replaced by name in properties.functionAppConfig.runtime' },
  { name: 'FUNCTIONS_WORKER_RUNTIME_VERSION', reason: 'Replaced by version in properties.functionAppConfig.runtime' },
  { name: 'FUNCTIONS_MAX_HTTP_CONCURRENCY', reason: "App Setting replaced by scale and concurrency's trigger section" },
  { name: 'FUNCTIONS_WORKER_PROCESS_COUNT', reason: 'Setting not valid' },
  { name: 'FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED', reason: 'Setting not valid' },
  { name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING', reason: "App Setting replaced by functionAppConfig's deployment section" },
  { name: 'WEBSITE_CONTENTSHARE', reason: "App Setting replaced by functionAppConfig's deployment section" },
  { name: 'WEBSITE_RUN_FROM_PACKAGE', reason: 'Not used for deployments in Flex Consumption', later: true },
  { name: 'ENABLE_ORYX_BUILD', reason: 'Replaced by the remoteBuild parameter when deploying in Flex Consumption', later: true },
  { name: 'SCM_DO_BUILD_DURING_DEPLOYMENT', reason: 'Replaced by the remoteBuild parameter when deploying in Flex Consumption', later: true },
  { name: 'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT', reason: 'Replaced by maximumInstanceCount in properties.functionAppConfig.scaleAndConcurrency', later: true },
];

export const FLEX_DEPRECATIONS_SOURCE = 'https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations';

export function flexDeprecation(list: readonly Deprecation[], name: string): Deprecation | undefined {
  return list.find((d) => d.name.toLowerCase() === name.toLowerCase());
}
