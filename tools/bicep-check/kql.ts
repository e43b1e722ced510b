/**
 * The Log Analytics tables the alert queries read, with their documented columns, and a reader that lists the
 * tables and column names a query uses, so a check can refuse a column the table does not have (a log alert
 * with an unknown column fails at evaluation time, in Azure, not at deployment).
 *
 * Sources: "Azure Monitor Logs reference - AppRequests",
 * https://learn.microsoft.com/azure/azure-monitor/reference/tables/apprequests, and "- AppTraces",
 * https://learn.microsoft.com/azure/azure-monitor/reference/tables/apptraces; the classic → workspace names in
 * "Migrate to workspace-based Application Insights resources",
 * https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource#workspace-based-resource-changes
 * (requests → AppRequests: name → Name, success → Success, duration → DurationMs, timestamp → TimeGenerated,
 * operation_Name → OperationName, cloud_RoleName → AppRoleName, customDimensions → Properties; traces → AppTraces:
 * message → Message, severityLevel → SeverityLevel).
 */

export const TABLES: Readonly<Record<string, readonly string[]>> = {
  AppRequests: [
    'TenantId',
    'TimeGenerated',
    'Id',
    'Source',
    'Name',
    'Url',
    'Success',
    'ResultCode',
    'DurationMs',
    'PerformanceBucket',
    'Properties',
    'Measurements',
    'OperationName',
    'OperationId',
    'ParentId',
    'SyntheticSource',
    'SessionId',
    'UserId',
    'UserAuthenticatedId',
    'UserAccountId',
    'AppVersion',
    'AppRoleName',
    'AppRoleInstance',
    'ClientType',
    'ClientModel',
    'ClientOS',
    'ClientIP',
    'ClientCity',
    'ClientStateOrProvince',
    'ClientCountryOrRegion',
    'ClientBrowser',
    'ResourceGUID',
    'IKey',
    'SDKVersion',
    'ItemCount',
    'ReferencedItemId',
    'ReferencedType',
    'SourceSystem',
    'Type',
    '_ResourceId',
  ],
  AppTraces: [
    'TenantId',
    'TimeGenerated',
    'Message',
    'SeverityLevel',
    'Properties',
    'Measurements',
    'OperationName',
    'OperationId',
    'ParentId',
    'SyntheticSource',
    'SessionId',
    'UserId',
    'UserAuthenticatedId',
    'UserAccountId',
    'AppVersion',
    'AppRoleName',
    'AppRoleInstance',
    'ClientType',
    'ClientModel',
    'ClientOS',
    'ClientIP',
    'ClientCity',
    'ClientStateOrProvince',
    'ClientCountryOrRegion',
    'ClientBrowser',
    'ResourceGUID',
    'IKey',
    'SDKVersion',
    'ItemCount',
    'SourceSystem',
    'Type',
    '_ResourceId',
  ],
};

/** KQL words that are neither tables nor columns: operators and functions (KQL reference). */
const KQL_WORDS = new Set([
  'let',
  'union',
  'where',
  'project',
  'summarize',
  'extend',
  'by',
  'and',
  'or',
  'not',
  'true',
  'false',
  'ago',
  'now',
  'toscalar',
  'max',
  'min',
  'count',
  'arg_max',
  'arg_min',
  'isnull',
  'isnotnull',
  'isempty',
  'isnotempty',
  'startswith',
  'endswith',
  'contains',
  'has',
  'in',
  'between',
  'take',
  'top',
  'order',
  'sort',
  'asc',
  'desc',
  'datetime',
  'timespan',
  'tostring',
  'todynamic',
  'strcat',
  'iff',
]);

export interface QueryNames {
  tables: string[];
  /** Identifiers that are neither KQL words, tables nor names the query defines (let / extend / summarize). */
  columns: string[];
}

/** The tables and column names a (simple) KQL query uses; string literals are ignored. */
export function namesIn(query: string): QueryNames {
  const code = query.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  const defined = new Set<string>();
  for (const m of code.matchAll(/\blet\s+([A-Za-z_]\w*)\s*=/g)) defined.add(m[1]!);
  for (const m of code.matchAll(/(?:\bextend|\bsummarize|,)\s+([A-Za-z_]\w*)\s*=(?!=)/g)) defined.add(m[1]!);
  const tables = new Set<string>();
  const columns = new Set<string>();
  for (const m of code.matchAll(/(?<![\w.])([A-Za-z_]\w*)\b/g)) {
    const w = m[1]!;
    if (KQL_WORDS.has(w) || defined.has(w)) continue;
    if (w in TABLES) tables.add(w);
    else columns.add(w);
  }
  return { tables: [...tables], columns: [...columns] };
}

/** Column names the query uses that none of its tables has (with the tables it reads). */
export function unknownColumns(query: string): { tables: string[]; unknown: string[] } {
  const { tables, columns } = namesIn(query);
  const known = new Set(tables.flatMap((t) => TABLES[t] ?? []));
  return { tables, unknown: columns.filter((c) => !known.has(c)) };
}
