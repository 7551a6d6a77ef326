# hvprov-template: powershell/structured.ps1.j2
# hvprov-params: {"chdir":"C:\\","creates":null,"depth":3,"error_action":"stop","parameters":{},"removes":"C:\\todo.flag","script":"$Ansible.Changed = $false\nWrite-Warning w\n"}
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$HvInvariant = [Globalization.CultureInfo]::InvariantCulture

function Add-HvJsonString([Text.StringBuilder]$sb, [string]$text) {
    [void]$sb.Append('"')
    if ($text -cmatch '^[ !#-\[\]-~]*\z') {
        [void]$sb.Append($text)
    } else {
        foreach ($ch in $text.ToCharArray()) {
            $code = [int]$ch
            if ($code -eq 34) { [void]$sb.Append('\"') }
            elseif ($code -eq 92) { [void]$sb.Append('\\') }
            elseif ($code -eq 10) { [void]$sb.Append('\n') }
            elseif ($code -eq 13) { [void]$sb.Append('\r') }
            elseif ($code -eq 9) { [void]$sb.Append('\t') }
            elseif ($code -eq 8) { [void]$sb.Append('\b') }
            elseif ($code -eq 12) { [void]$sb.Append('\f') }
            elseif ($code -lt 32 -or $code -gt 126) { [void]$sb.Append('\u').Append($code.ToString('x4', $HvInvariant)) }
            else { [void]$sb.Append($ch) }
        }
    }
    [void]$sb.Append('"')
}

function Add-HvJson([Text.StringBuilder]$sb, $value, [int]$depth) {
    if ($depth -gt 40) { throw 'ConvertTo-HvJson: data nested deeper than 40 levels' }
    if ($null -eq $value -or $value -is [DBNull]) { [void]$sb.Append('null'); return }
    if ($value -is [string] -or $value -is [char]) { Add-HvJsonString $sb ([string]$value); return }
    if ($value -is [bool] -or $value -is [Management.Automation.SwitchParameter]) {
        if ($value) { [void]$sb.Append('true') } else { [void]$sb.Append('false') }
        return
    }
    if ($value -is [DateTime]) {
        Add-HvJsonString $sb ($value.ToUniversalTime().ToString('s', $HvInvariant) + 'Z')
        return
    }
    if ($value -is [double] -or $value -is [single]) {
        if ([double]::IsNaN($value) -or [double]::IsInfinity($value)) { [void]$sb.Append('null') }
        else { [void]$sb.Append($value.ToString('R', $HvInvariant)) }
        return
    }
    if ($value -is [Enum] -or $value -is [Guid] -or $value -is [TimeSpan] -or $value -is [Version]) {
        Add-HvJsonString $sb $value.ToString()
        return
    }
    if ($value -is [int] -or $value -is [long] -or $value -is [uint32] -or $value -is [uint64] -or
        $value -is [int16] -or $value -is [uint16] -or $value -is [byte] -or $value -is [sbyte] -or
        $value -is [decimal]) {
        [void]$sb.Append($value.ToString($HvInvariant))
        return
    }
    if ($value -is [Collections.IDictionary]) {
        $keys = @($value.Keys)
        if (-not ($value -is [Collections.Specialized.OrderedDictionary])) { $keys = @($keys | Sort-Object) }
        [void]$sb.Append('{')
        $first = $true
        foreach ($key in $keys) {
            if (-not $first) { [void]$sb.Append(',') }
            $first = $false
            Add-HvJsonString $sb ([string]$key)
            [void]$sb.Append(':')
            Add-HvJson $sb $value[$key] ($depth + 1)
        }
        [void]$sb.Append('}')
        return
    }
    if ($value -is [Collections.IEnumerable]) {
        [void]$sb.Append('[')
        $first = $true
        foreach ($item in $value) {
            if (-not $first) { [void]$sb.Append(',') }
            $first = $false
            Add-HvJson $sb $item ($depth + 1)
        }
        [void]$sb.Append(']')
        return
    }
    # New-Object PSObject -Property @{...} (checked by name: no type literal needed on 2.0)
    if ($value.PSObject.BaseObject.GetType().FullName -eq 'System.Management.Automation.PSCustomObject') {
        [void]$sb.Append('{')
        $first = $true
        foreach ($prop in @($value.PSObject.Properties)) {
            if (-not $first) { [void]$sb.Append(',') }
            $first = $false
            Add-HvJsonString $sb ([string]$prop.Name)
            [void]$sb.Append(':')
            Add-HvJson $sb $prop.Value ($depth + 1)
        }
        [void]$sb.Append('}')
        return
    }
    Add-HvJsonString $sb ([string]$value)
}

function ConvertTo-HvJson($value) {
    $sb = New-Object System.Text.StringBuilder
    Add-HvJson $sb $value 0
    return $sb.ToString()
}

function Write-HvResultLine([string]$json) {
    [Console]::Out.WriteLine()
    [Console]::Out.WriteLine('##hvprov-result## ' + $json)
    [Console]::Out.Flush()
}

function Write-HvResult($data) {
    $json = ConvertTo-HvJson $data
    Write-HvResultLine ('{"ok":true,"data":' + $json + '}')
    exit 0
}

function Write-HvError($record) {
    try {
        $err = @{ 'type' = 'Unknown'; 'message' = [string]$record; 'line' = $null; 'category' = $null }
        $ex = $record.Exception
        if ($null -ne $ex) {
            $err['message'] = [string]$ex.Message
            if ($ex -is [Management.Automation.MethodInvocationException] -and $null -ne $ex.InnerException) {
                $ex = $ex.InnerException
            }
            $err['type'] = $ex.GetType().FullName
        }
        if ($null -ne $record.InvocationInfo) { $err['line'] = [int]$record.InvocationInfo.ScriptLineNumber }
        if ($null -ne $record.CategoryInfo) { $err['category'] = [string]$record.CategoryInfo.Category }
        $json = ConvertTo-HvJson $err
    } catch {
        $json = '{"type":"HvprovInternalError","message":"the error could not be serialized","line":null,"category":null}'
    }
    Write-HvResultLine ('{"ok":false,"error":' + $json + '}')
    exit 1
}

function Get-HvProp($object, [string]$name) {
    if ($null -eq $object) { return $null }
    $prop = $object.PSObject.Properties[$name]
    if ($null -eq $prop) { return $null }
    return $prop.Value
}

function Get-HvLastBoot {
    $os = Get-WmiObject -Class Win32_OperatingSystem
    return [Management.ManagementDateTimeConverter]::ToDateTime($os.LastBootUpTime)
}

function ConvertTo-HvArgument([string]$arg) {
    if ($arg.Length -gt 0 -and $arg -notmatch '[\s"]') { return $arg }
    $bs = [char]92
    $sb = New-Object System.Text.StringBuilder
    [void]$sb.Append([char]34)
    $run = 0
    foreach ($ch in $arg.ToCharArray()) {
        if ($ch -eq $bs) { $run++ }
        elseif ($ch -eq [char]34) { [void]$sb.Append($bs, 2 * $run + 1).Append([char]34); $run = 0 }
        else {
            if ($run -gt 0) { [void]$sb.Append($bs, $run) }
            $run = 0
            [void]$sb.Append($ch)
        }
    }
    if ($run -gt 0) { [void]$sb.Append($bs, 2 * $run) }
    [void]$sb.Append([char]34)
    return $sb.ToString()
}

function Invoke-HvProcess([string]$path, [string[]]$arguments) {
    $quoted = New-Object System.Collections.ArrayList
    if ($null -ne $arguments) {
        foreach ($arg in $arguments) { [void]$quoted.Add((ConvertTo-HvArgument $arg)) }
    }
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $path
    $psi.Arguments = [string]::Join(' ', [string[]]$quoted.ToArray([string]))
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $proc = [Diagnostics.Process]::Start($psi)
    $proc.StandardInput.Close()
    $text = $proc.StandardOutput.ReadToEnd()
    $proc.WaitForExit()
    return @{ 'exit_code' = $proc.ExitCode; 'output' = @($text -split '\r?\n') }
}

function ConvertTo-HvDepth($value, [int]$depth) {
    if ($null -eq $value -or $value -is [string] -or $value -is [bool] -or $value -is [char] -or $value -is [ValueType]) {
        if ($value -is [Enum]) { return @{ 'Type' = $value.GetType().FullName; 'String' = $value.ToString(); 'Value' = [long]$value } }
        return $value
    }
    if ($depth -lt 0) { return $value.ToString() }
    if ($value -is [Collections.IDictionary]) {
        $out = @{}
        foreach ($k in @($value.Keys)) { $out[[string]$k] = ConvertTo-HvDepth $value[$k] ($depth - 1) }
        return $out
    }
    if ($value -is [Collections.IEnumerable]) {
        $list = New-Object System.Collections.ArrayList
        foreach ($item in $value) { [void]$list.Add((ConvertTo-HvDepth $item ($depth - 1))) }
        return ,$list
    }
    $out = @{}
    foreach ($prop in @($value.PSObject.Properties)) {
        $v = $null
        try { $v = $prop.Value } catch { }
        $out[[string]$prop.Name] = ConvertTo-HvDepth $v ($depth - 1)
    }
    return $out
}
function ConvertTo-HvErrorRecord($record) {
    $ex = $record.Exception
    $ci = $record.CategoryInfo
    $stack = $null
    if ($record.PSObject.Properties['ScriptStackTrace']) { $stack = $record.ScriptStackTrace }
    return @{
        'output' = ($record | Out-String).TrimEnd()
        'error_details' = $(if ($null -ne $record.ErrorDetails) { @{ 'message' = $record.ErrorDetails.Message; 'recommended_action' = $record.ErrorDetails.RecommendedAction } } else { $null })
        'exception' = @{ 'message' = $ex.Message; 'type' = $ex.GetType().FullName; 'help_link' = $ex.HelpLink; 'source' = $ex.Source }
        'target_object' = $(if ($null -ne $record.TargetObject) { [string]$record.TargetObject } else { $null })
        'category_info' = @{ 'category' = $ci.Category.ToString(); 'category_id' = [int]$ci.Category; 'activity' = $ci.Activity;
                             'reason' = $ci.Reason; 'target_name' = $ci.TargetName; 'target_type' = $ci.TargetType }
        'fully_qualified_error_id' = $record.FullyQualifiedErrorId
        'script_stack_trace' = $stack
        'pipeline_iteration_info' = @($record.PipelineIterationInfo)
    }
}
try {
    $hvCreates = $null
    $hvRemoves = 'C:\todo.flag'
    if ($null -ne $hvCreates -and $hvCreates.Length -gt 0 -and (Test-Path -Path $hvCreates)) {
        Write-HvResult @{ 'skipped' = $true; 'why' = 'creates' }
    }
    if ($null -ne $hvRemoves -and $hvRemoves.Length -gt 0 -and -not (Test-Path -Path $hvRemoves)) {
        Write-HvResult @{ 'skipped' = $true; 'why' = 'removes' }
    }
    $hvDepth = 3
    $hvAnsible = @{ 'Result' = @{}; 'Changed' = $true; 'Failed' = $false; 'CheckMode' = $false; 'Verbosity' = 0;
                    'Diff' = @{}; 'Tmpdir' = [IO.Path]::GetTempPath() }
    if (-not ('HvHost' -as [type])) {
        Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text;
public class HvHostUI : PSHostUserInterface {
    public readonly StringBuilder Out = new StringBuilder();
    public readonly StringBuilder Err = new StringBuilder();
    static Exception NoPrompt() { return new MethodInvocationException("PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."); }
    public override PSHostRawUserInterface RawUI { get { return null; } }
    public override Dictionary<string, PSObject> Prompt(string c, string m, Collection<FieldDescription> d) { throw NoPrompt(); }
    public override int PromptForChoice(string c, string m, Collection<ChoiceDescription> d, int i) { throw NoPrompt(); }
    public override PSCredential PromptForCredential(string c, string m, string u, string t, PSCredentialTypes a, PSCredentialUIOptions o) { throw NoPrompt(); }
    public override PSCredential PromptForCredential(string c, string m, string u, string t) { throw NoPrompt(); }
    public override string ReadLine() { throw NoPrompt(); }
    public override SecureString ReadLineAsSecureString() { throw NoPrompt(); }
    public override void Write(ConsoleColor f, ConsoleColor b, string v) { Out.Append(v); }
    public override void Write(string v) { Out.Append(v); }
    public override void WriteLine(string v) { Out.Append(v).Append(Environment.NewLine); }
    public override void WriteErrorLine(string v) { Err.Append(v).Append(Environment.NewLine); }
    public override void WriteDebugLine(string m) { WriteLine("DEBUG: " + m); }
    public override void WriteVerboseLine(string m) { WriteLine("VERBOSE: " + m); }
    public override void WriteWarningLine(string m) { WriteLine("WARNING: " + m); }
    public override void WriteProgress(long s, ProgressRecord r) { }
}
public class HvHost : PSHost {
    readonly HvHostUI ui = new HvHostUI();
    readonly Guid id = Guid.NewGuid();
    public HvHostUI HvUI { get { return ui; } }
    public override CultureInfo CurrentCulture { get { return CultureInfo.CurrentCulture; } }
    public override CultureInfo CurrentUICulture { get { return CultureInfo.CurrentUICulture; } }
    public override Guid InstanceId { get { return id; } }
    public override string Name { get { return "hvprov"; } }
    public override PSHostUserInterface UI { get { return ui; } }
    public override Version Version { get { return new Version(1, 0); } }
    public override void EnterNestedPrompt() { throw new NotSupportedException(); }
    public override void ExitNestedPrompt() { throw new NotSupportedException(); }
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }
    public override void SetShouldExit(int exitCode) { }
}
'@
    }
    $hvHost = New-Object HvHost
    $hvRs = [Management.Automation.Runspaces.RunspaceFactory]::CreateRunspace($hvHost)
    $hvRs.Open()
    $hvRs.SessionStateProxy.SetVariable('Ansible', $hvAnsible)
    $hvErrorAction = 'stop'
    $hvPreference = @{ 'silently_continue' = 'SilentlyContinue'; 'continue' = 'Continue'; 'stop' = 'Stop' }[$hvErrorAction]
    if ($null -eq $hvPreference) { throw 'error_action must be silently_continue, continue or stop' }
    $hvRs.SessionStateProxy.SetVariable('ErrorActionPreference', $hvPreference)
    $hvChdir = 'C:\'
    if ($null -ne $hvChdir) { [void]$hvRs.SessionStateProxy.Path.SetLocation($hvChdir) }
    $hvPs = [Management.Automation.PowerShell]::Create()
    $hvPs.Runspace = $hvRs
    [void]$hvPs.AddScript(([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('JEFuc2libGUuQ2hhbmdlZCA9ICRmYWxzZQpXcml0ZS1XYXJuaW5nIHcK'))))
    $hvParams = @{}
    foreach ($hvKey in @($hvParams.Keys)) { [void]$hvPs.AddParameter([string]$hvKey, $hvParams[$hvKey]) }
    $hvOutput = New-Object System.Collections.ArrayList
    $hvFailed = $false
    try {
        foreach ($hvItem in @($hvPs.Invoke())) { [void]$hvOutput.Add((ConvertTo-HvDepth $hvItem $hvDepth)) }
    } catch {
        $hvFailed = $true
        $hvTerm = $_.Exception
        if ($hvTerm.InnerException -and $hvTerm.InnerException.PSObject.Properties['ErrorRecord']) {
            [void]$hvPs.Streams.Error.Add($hvTerm.InnerException.ErrorRecord)
        }
    }
    $hvStreams = $hvPs.Streams
    $hvErrors = @(foreach ($r in @($hvStreams.Error)) { ConvertTo-HvErrorRecord $r })
    if ($hvErrorAction -eq 'stop' -and $hvErrors.Count -gt 0) { $hvFailed = $true }
    $hvInfo = @()
    if ($hvStreams.PSObject.Properties['Information']) {
        $hvInfo = @(foreach ($r in @($hvStreams.Information)) {
            @{ 'message_data' = (ConvertTo-HvDepth $r.MessageData $hvDepth); 'source' = $r.Source;
               'time_generated' = $r.TimeGenerated.ToUniversalTime().ToString('o'); 'tags' = @($r.Tags) }
        })
    }
    $hvRs.Close()
    Write-HvResult @{
        'skipped' = $false
        'output' = $hvOutput
        'error' = $hvErrors
        'warning' = @(foreach ($r in @($hvStreams.Warning)) { $r.Message })
        'verbose' = @(foreach ($r in @($hvStreams.Verbose)) { $r.Message })
        'debug' = @(foreach ($r in @($hvStreams.Debug)) { $r.Message })
        'information' = $hvInfo
        'host_out' = $hvHost.HvUI.Out.ToString()
        'host_err' = $hvHost.HvUI.Err.ToString()
        'result' = (ConvertTo-HvDepth $hvAnsible['Result'] $hvDepth)
        'changed' = [bool]$hvAnsible['Changed']
        'failed' = ($hvFailed -or [bool]$hvAnsible['Failed'])
    }
    throw 'hvprov: the script ended without writing a result'
} catch {
    Write-HvError $_
}
