# hvprov-template: powershell/process.ps1.j2
# hvprov-params: {"arguments":"-NonInteractive -EncodedCommand RwBlAHQALQBEAGEAdABlAA==","chdir":"C:\\Windows\\Temp","creates":"C:\\done.flag","encoding":"utf-8","expand_file":true,"file":"powershell.exe","removes":null,"stdin":"y\n"}
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

try {
    function Expand-HvPath($p) { if ($null -eq $p) { return $null }; return [Environment]::ExpandEnvironmentVariables($p) }
    $hvCreates = Expand-HvPath 'C:\done.flag'
    $hvRemoves = Expand-HvPath $null
    $hvChdir = Expand-HvPath 'C:\Windows\Temp'
    $hvFile = 'powershell.exe'
    if ($true) { $hvFile = Expand-HvPath $hvFile }
    if ($null -ne $hvCreates -and $hvCreates.Length -gt 0 -and (Test-Path -Path $hvCreates)) {
        Write-HvResult @{ 'skipped' = $true; 'why' = 'creates' }
    }
    if ($null -ne $hvRemoves -and $hvRemoves.Length -gt 0 -and -not (Test-Path -Path $hvRemoves)) {
        Write-HvResult @{ 'skipped' = $true; 'why' = 'removes' }
    }
    if (-not ('HvProcessRunner' -as [type])) {
        Add-Type -TypeDefinition @'
using System;
using System.Diagnostics;
using System.Text;
using System.Threading;
public static class HvProcessRunner {
    public static object[] Run(string file, string args, string cwd, string input, string encoding) {
        ProcessStartInfo si = new ProcessStartInfo(file, args);
        si.UseShellExecute = false;
        si.CreateNoWindow = true;
        si.RedirectStandardInput = true;
        si.RedirectStandardOutput = true;
        si.RedirectStandardError = true;
        if (cwd != null) { si.WorkingDirectory = cwd; }
        if (encoding != null) {
            si.StandardOutputEncoding = Encoding.GetEncoding(encoding);
            si.StandardErrorEncoding = Encoding.GetEncoding(encoding);
        }
        Process p = Process.Start(si);
        string err = null;
        Thread t = new Thread(delegate() { err = p.StandardError.ReadToEnd(); });
        t.Start();
        if (input != null) { p.StandardInput.Write(input); }
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd();
        t.Join();
        p.WaitForExit();
        return new object[] { p.ExitCode, output, err };
    }
}
'@
    }
    $hvStart = [DateTime]::UtcNow
    $hvRun = [HvProcessRunner]::Run($hvFile, '-NonInteractive -EncodedCommand RwBlAHQALQBEAGEAdABlAA==', $hvChdir, ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('eQo='))), 'utf-8')
    $hvEnd = [DateTime]::UtcNow
    $hvFmt = 'yyyy-MM-dd HH:mm:ss.ffffff'
    Write-HvResult @{ 'skipped' = $false; 'rc' = [int]$hvRun[0]; 'stdout' = [string]$hvRun[1]; 'stderr' = [string]$hvRun[2];
                      'start' = $hvStart.ToString($hvFmt, $HvInvariant); 'end' = $hvEnd.ToString($hvFmt, $HvInvariant) }
    throw 'hvprov: the script ended without writing a result'
} catch {
    Write-HvError $_
}
