// Log Analytics + workspace-based Application Insights with local (instrumentation-key) auth off, and two
// log alerts on the timer function: a run that failed for good (its retries spent), and no completed snapshot in
// the last 26 hours.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Azure region.')
param location string

@description('Tags applied to every resource of this module.')
param tags object = {}

@description('Days Log Analytics keeps the data (30 is included in the price).')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Create the two log alerts (failed run, no snapshot in 26 hours).')
param enableAlerts bool = true

@description('E-mail address notified by the alerts; empty = alerts fire without notification (see them in Azure Monitor).')
param alertEmail string = ''

@description('Name of the timer function the alerts watch.')
param functionName string = 'exportUsers'

@description('Minutes after a failed invocation with no new attempt before the failed-run alert counts it as the final failure: more than the timer retry policy\'s maximumInterval (15 minutes, src/functions/exportUsers.ts) plus telemetry ingestion delay.')
@minValue(16)
param finalFailureAfterMinutes int = 30

@description('Hours without a completed snapshot before the staleness alert fires (the schedule is daily).')
@minValue(1)
@maxValue(47)
param staleAfterHours int = 26

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
    features: {
      disableLocalAuth: true
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Only Entra ID (the function's managed identity) may send telemetry: no instrumentation-key ingestion.
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (enableAlerts && !empty(alertEmail)) {
  name: 'ag-${appInsightsName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'usersexport'
    enabled: true
    emailReceivers: [
      {
        name: 'export-owner'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// The action group exists only with alerts on and an e-mail address: its id is read under the same condition.
var alertActions = {
  actionGroups: enableAlerts && !empty(alertEmail) ? [actionGroup!.id] : []
}

// The queries read Application Insights' telemetry where the workspace-based component stores it, the Log
// Analytics tables AppRequests and AppTraces. Columns: "Azure Monitor Logs reference - AppRequests"
// (https://learn.microsoft.com/azure/azure-monitor/reference/tables/apprequests: TimeGenerated = "Date and time when
// request processing started", Name, Success, DurationMs) and "- AppTraces"
// (https://learn.microsoft.com/azure/azure-monitor/reference/tables/apptraces: TimeGenerated, Message), as mapped from
// the classic requests/traces in "Migrate to workspace-based Application Insights resources"
// (https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource#workspace-based-resource-changes).
// A request row is written when the invocation ends; its start is also in AppTraces: the Functions host's
// "Executing 'Functions.<name>' (Reason=..., Id=...)" ("Get started with the Azure WebJobs SDK", console output)
// and the function's own "<name> triggered (isPastDue: ...)".
var lookback = '${staleAfterHours}h'
var attemptStarts = 'union (AppRequests | where TimeGenerated > ago(${lookback}) and Name == "${functionName}" | project TimeGenerated), (AppTraces | where TimeGenerated > ago(${lookback}) and (Message startswith "Executing \'Functions.${functionName}\'" or Message startswith "${functionName} triggered") | project TimeGenerated)'

// The final failure of a run: the timer's retry policy (exponentialBackoff, maxRetryCount 3, maximumInterval 15
// minutes: src/functions/exportUsers.ts) reruns a failed invocation, so a failed attempt followed by a successful
// one is no failed run. The latest failed invocation counts only when no attempt started after it ended and it
// ended more than finalFailureAfterMinutes ago (longer than the retry policy's longest wait plus ingestion delay).
// Ingestion delay: typically 20 seconds to 3 minutes ("Log data ingestion time in Azure Monitor",
// https://learn.microsoft.com/azure/azure-monitor/logs/data-ingestion-time).
var failedRunQuery = join([
  'let lastStart = toscalar(${attemptStarts} | summarize max(TimeGenerated));'
  'AppRequests'
  '| where TimeGenerated > ago(${lookback}) and Name == "${functionName}" and Success == false'
  '| summarize arg_max(TimeGenerated, DurationMs)'
  '| extend EndedAt = TimeGenerated + DurationMs * 1ms'
  '| where EndedAt < ago(${finalFailureAfterMinutes}m) and (isnull(lastStart) or lastStart < EndedAt)'
  '| summarize failures = count()'
], '\n')

// A completed run logs "Export completed: ..." (src/export.ts) and ends as a successful request; either one counts.
var completedRunQuery = 'union (AppRequests | where TimeGenerated > ago(${lookback}) and Name == "${functionName}" and Success == true), (AppTraces | where TimeGenerated > ago(${lookback}) and Message contains "export completed") | summarize completed = count()'

resource failedRunAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (enableAlerts) {
  name: 'alert-${functionName}-failed-${appInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Entra users export: a run failed'
    description: 'The ${functionName} function failed and its retries are spent (no attempt started within ${finalFailureAfterMinutes} minutes after the last failure): no snapshot was written by that run. See the exceptions and traces of the failed operation in Application Insights.'
    severity: 1
    enabled: true
    // The workspace holds the component's AppRequests / AppTraces (workspace-based Application Insights).
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    // The query looks back staleAfterHours itself (ago(...)); let it see up to two days of data.
    // The query's own window (ago(...)) may exceed the evaluation frequency's: overrideQueryTimeRange ("Microsoft.Insights
    // scheduledQueryRules" 2023-12-01, https://learn.microsoft.com/azure/templates/microsoft.insights/scheduledqueryrules).
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: failedRunQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}

resource staleSnapshotAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (enableAlerts) {
  name: 'alert-${functionName}-stale-${appInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Entra users export: no snapshot in ${staleAfterHours} hours'
    description: 'No run of ${functionName} completed in the last ${staleAfterHours} hours: the latest snapshot is stale. Also fires after a fresh deployment until the first run completes.'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    // The query looks back staleAfterHours itself (ago(...)); let it see up to two days of data.
    // The query's own window (ago(...)) may exceed the evaluation frequency's: overrideQueryTimeRange ("Microsoft.Insights
    // scheduledQueryRules" 2023-12-01, https://learn.microsoft.com/azure/templates/microsoft.insights/scheduledqueryrules).
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: completedRunQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'completed'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: alertActions
  }
}

output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
output appInsightsConnectionString string = appInsights.properties.ConnectionString
output logAnalyticsWorkspaceId string = workspace.id
