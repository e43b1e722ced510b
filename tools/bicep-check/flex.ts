/**
 * Site properties and app settings that are deprecated on the Flex Consumption plan: "App settings reference
 * for Azure Functions", section "Flex Consumption plan deprecations",
 * https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
 * ("these site properties and application settings are deprecated and shouldn't be used when creating
 * resources for function apps in a Flex Consumption plan"; the "Flex Consumption plan" article repeats it:
 * https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations).
 *
 * The table below is the Microsoft table as published for Flex Consumption (read verbatim: property/setting
 * and reason). The last four app settings were added to the section afterwards; the copy of the section
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
}

/** The reasons the doc gives more than once, verbatim. */
const REASON = {
  notValid: 'Not valid',
  settingNotValid: 'Setting not valid',
  runtime: 'Replaced by properties.functionAppConfig.runtime',
  runtimeName: 'Replaced by name in properties.functionAppConfig.runtime',
  runtimeVersion: 'Replaced by version in properties.functionAppConfig.runtime',
  deploymentSection: "App Setting replaced by functionAppConfig's deployment section",
  remoteBuild: 'Replaced by the remoteBuild parameter when deploying in Flex Consumption',
} as const;

const deprecations = (rows: Array<[name: string, reason: string]>): readonly Deprecation[] =>
  rows.map(([name, reason]) => ({ name, reason }));

export const FLEX_DEPRECATED_SITE_PROPERTIES: readonly Deprecation[] = deprecations([
  ['ftpsState', 'FTPS not supported'],
  ['use32BitWorkerProcess', '32-bit not supported'],
  ['isReserved', REASON.notValid],
  ['IsXenon', REASON.notValid],
  ['windowsFxVersion', REASON.notValid],
  ['alwaysOn', REASON.notValid],
  ['preWarmedInstanceCount', 'Renamed as alwaysReadyInstances (functionAppConfig.scaleAndConcurrency)'],
  ['functionAppScaleLimit', 'Renamed as maximumInstanceCount'],
  ['containerSize', 'Renamed as instanceMemoryMB'],
  ['javaVersion', REASON.runtimeVersion],
  ['powerShellVersion', REASON.runtimeVersion],
  ['netFrameworkVersion', REASON.runtimeVersion],
  ['LinuxFxVersion', REASON.runtime],
]);

export const FLEX_DEPRECATED_APP_SETTINGS: readonly Deprecation[] = deprecations([
  ['WEBSITE_NODE_DEFAULT_VERSION', REASON.runtimeVersion],
  ['FUNCTIONS_EXTENSION_VERSION', 'App Setting will be set by the backend to the right value'],
  ['FUNCTIONS_WORKER_RUNTIME', REASON.runtimeName],
  ['FUNCTIONS_WORKER_RUNTIME_VERSION', REASON.runtimeVersion],
  ['FUNCTIONS_MAX_HTTP_CONCURRENCY', "App Setting replaced by scale and concurrency's trigger section"],
  ['FUNCTIONS_WORKER_PROCESS_COUNT', REASON.settingNotValid],
  ['FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED', REASON.settingNotValid],
  ['WEBSITE_CONTENTAZUREFILECONNECTIONSTRING', REASON.deploymentSection],
  ['WEBSITE_CONTENTSHARE', REASON.deploymentSection],
  // Added to the section later (see above).
  ['WEBSITE_RUN_FROM_PACKAGE', 'Not used for deployments in Flex Consumption'],
  ['ENABLE_ORYX_BUILD', REASON.remoteBuild],
  ['SCM_DO_BUILD_DURING_DEPLOYMENT', REASON.remoteBuild],
  ['WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT', 'Replaced by maximumInstanceCount in properties.functionAppConfig.scaleAndConcurrency'],
]);

export const FLEX_DEPRECATIONS_SOURCE =
  'https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations';

export function flexDeprecation(list: readonly Deprecation[], name: string): Deprecation | undefined {
  return list.find((d) => d.name.toLowerCase() === name.toLowerCase());
}
