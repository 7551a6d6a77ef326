# hvprov-template: hyperv_v1/vm_create.ps1.j2
# hvprov-params: {"cpus":4,"disks":[{"path":"D:\\Hyper-V\\O\u2019Brien's $(whoami) `disk`\\[web] 01 \u00e9t\u00e9.vhd"},{"path":"C:\\VMs\\data [2].vhd"}],"dynamic_memory":{"buffer":20,"max_mb":8192,"min_mb":null},"generation":1,"memory_mb":1024,"name":"O\u2019Brien's \"lab\" $(Remove-Item C:\\ -Recurse) `n ${env:PATH} \u00c4rger \u6f22\u5b57","nics":[{"legacy":false,"mac":"00-15-5D-01-02-0A","name":"Uplink \u2019A\u2019 $x","switch":"LAN \u2018uplink\u2019 \u201cDMZ\u201d; exit 1 # \u00fcber","vlan":null},{"legacy":true,"mac":null,"name":"Legacy Network Adapter","switch":null,"vlan":null}],"notes":"owner: O'Brien\nticket: $(calc) `t\n'@\n\"@\n\u2018smart\u2019 \u201cquotes\u201d \ud83d\ude00"}
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

# ---- errors: `type` = return code name or exception type, message = method + object ---------
# Write-HvError (prelude) reports the exception's type name, so an error that must read
# 'InvalidState' needs an exception class of exactly that name. Such classes are emitted in
# memory on first use (System.Reflection.Emit: no csc.exe, no temporary files, CLR 2 safe),
# which happens only on the way to the error result.
$HvErrorTypes = @{}

function Get-HvErrorType([string]$name) {
    if (-not $HvErrorTypes.ContainsKey($name)) {
        if (-not $HvErrorTypes.ContainsKey('|module')) {
            $assemblyName = New-Object Reflection.AssemblyName -ArgumentList 'HvprovErrors'
            $assembly = [AppDomain]::CurrentDomain.DefineDynamicAssembly($assemblyName, [Reflection.Emit.AssemblyBuilderAccess]::Run)
            $HvErrorTypes['|module'] = $assembly.DefineDynamicModule('HvprovErrors')
        }
        # public class <name> : System.Exception { public <name>(string m) : base(m) {} }
        $signature = [Type[]]@([string])
        $builder = $HvErrorTypes['|module'].DefineType($name, [Reflection.TypeAttributes]::Public, [Exception])
        $constructor = $builder.DefineConstructor([Reflection.MethodAttributes]::Public, [Reflection.CallingConventions]::Standard, $signature)
        $il = $constructor.GetILGenerator()
        $il.Emit([Reflection.Emit.OpCodes]::Ldarg_0)
        $il.Emit([Reflection.Emit.OpCodes]::Ldarg_1)
        $il.Emit([Reflection.Emit.OpCodes]::Call, [Exception].GetConstructor($signature))
        $il.Emit([Reflection.Emit.OpCodes]::Ret)
        $HvErrorTypes[$name] = $builder.CreateType()
    }
    return $HvErrorTypes[$name]
}

function Get-HvErrorCategory([string]$type) {
    switch ($type) {
        'AccessDenied' { return 'PermissionDenied' }
        'NotSupported' { return 'NotImplemented' }
        'Timeout' { return 'OperationTimeout' }
        'InvalidParameter' { return 'InvalidArgument' }
        'SystemInUse' { return 'ResourceBusy' }
        'InvalidState' { return 'InvalidOperation' }
        'IncorrectDataType' { return 'InvalidType' }
        'SystemNotAvailable' { return 'ResourceUnavailable' }
        'OutOfMemory' { return 'ResourceUnavailable' }
        'FileNotFound' { return 'ObjectNotFound' }
    }
    return 'NotSpecified'
}

# An ErrorRecord whose exception type is named $type (see Get-HvErrorType).
function New-HvErrorRecord([string]$type, [string]$message) {
    $exception = [Activator]::CreateInstance((Get-HvErrorType $type), [object[]]@($message))
    $category = [Management.Automation.ErrorCategory](Get-HvErrorCategory $type)
    return New-Object Management.Automation.ErrorRecord -ArgumentList $exception, $type, $category, $message
}

# A caught error again, its message prefixed with "$context: " and its exception type kept;
# the original record when that type cannot be built from (message, inner exception).
function New-HvWrappedRecord($record, [string]$context) {
    $inner = $record.Exception
    if ($inner -is [Management.Automation.MethodInvocationException] -and $null -ne $inner.InnerException) {
        $inner = $inner.InnerException
    }
    $wrapped = $null
    try {
        $wrapped = New-Object -TypeName ($inner.GetType().FullName) -ArgumentList ($context + ': ' + $inner.Message), $inner
    } catch {
        $wrapped = $null
    }
    if ($null -eq $wrapped -or $wrapped.GetType() -ne $inner.GetType()) { return $record }
    $category = [Management.Automation.ErrorCategory]::NotSpecified
    if ($null -ne $record.CategoryInfo) { $category = $record.CategoryInfo.Category }
    return New-Object Management.Automation.ErrorRecord -ArgumentList $wrapped, ([string]$record.FullyQualifiedErrorId), $category, $context
}

# Ends the script with an error of type $HvType (a return code name, 'JobFailed', 'Timeout').
# Advanced function: the error's line is the line that called Stop-HvError.
function Stop-HvError {
    [CmdletBinding()]
    param([string]$HvType, [string]$HvMessage)
    $PSCmdlet.ThrowTerminatingError((New-HvErrorRecord $HvType $HvMessage))
}

# Runs one cmdlet (or file operation) in $HvBlock and returns its output; an error comes back
# as "<cmdlet> on <object>: <message>" with the cmdlet's exception type.
function Invoke-HvCmdlet {
    [CmdletBinding()]
    param([string]$HvCmdletName, [string]$HvTarget, [ScriptBlock]$HvBlock)
    try {
        & $HvBlock
    } catch {
        $PSCmdlet.ThrowTerminatingError((New-HvWrappedRecord $_ ($HvCmdletName + ' on ' + $HvTarget)))
    }
}

# 12 hex digits, upper case, no separators (what both back ends store).
function ConvertTo-HvMac([string]$mac) {
    return $mac.Replace('-', '').Replace(':', '').ToUpper()
}

# Creates the folder of a new VHD file when it is missing (as Hyper-V Manager does).
function New-HvParentFolder([string]$path) {
    $folder = [IO.Path]::GetDirectoryName($path)
    if ($null -ne $folder -and $folder.Length -gt 0 -and -not [IO.Directory]::Exists($folder)) {
        [void][IO.Directory]::CreateDirectory($folder)
    }
}

# ---- WMI v1 plumbing: services, method calls, jobs (domain brief 4.2, 4.4, 5.1) -----------
$HvNamespace = 'root\virtualization'
$HvServices = @{}

function Get-HvService([string]$class) {
    if (-not $HvServices.ContainsKey($class)) {
        $found = @(Get-WmiObject -Namespace $HvNamespace -Class $class)
        if ($found.Count -eq 0) {
            throw ('no ' + $class + ' in ' + $HvNamespace + ': is the Hyper-V role installed and the vmms service running?')
        }
        $HvServices[$class] = $found[0]
    }
    return $HvServices[$class]
}

# The names of the uint32 return codes (brief 4.2; 32779 from the image management service,
# 32780-32782 from Msvm_ShutdownComponent.InitiateShutdown).
function Get-HvReturnCodeName([int]$code) {
    switch ($code) {
        32768 { return 'Failed' }
        32769 { return 'AccessDenied' }
        32770 { return 'NotSupported' }
        32771 { return 'StatusUnknown' }
        32772 { return 'Timeout' }
        32773 { return 'InvalidParameter' }
        32774 { return 'SystemInUse' }
        32775 { return 'InvalidState' }
        32776 { return 'IncorrectDataType' }
        32777 { return 'SystemNotAvailable' }
        32778 { return 'OutOfMemory' }
        32779 { return 'FileNotFound' }
        32780 { return 'SystemNotReady' }
        32781 { return 'MachineLocked' }
        32782 { return 'ShutdownInProgress' }
    }
    return 'Failed'
}

# Polls a job until it leaves JobState 2 New / 3 Starting / 4 Running / 6 Shutting Down. The
# Job out-parameter is a path and WMI objects are snapshots, so the job is fetched again on
# every poll. Returns $null when it Completed (7), otherwise the ErrorRecord to throw: JobFailed
# with ErrorCode / ErrorDescription, or Timeout.
function Wait-HvWmiJob([string]$jobPath, [string]$context, [int]$timeoutSeconds) {
    $deadline = [DateTime]::UtcNow.AddSeconds($timeoutSeconds)
    while ($true) {
        try {
            $job = [wmi]$jobPath
        } catch {
            return (New-HvErrorRecord 'StatusUnknown' ($context + ': its job ' + $jobPath + ' could not be read: ' + $_.Exception.Message))
        }
        $state = [int]$job.JobState
        if (@(2, 3, 4, 6) -notcontains $state) { break }
        if ([DateTime]::UtcNow -gt $deadline) {
            return (New-HvErrorRecord 'Timeout' ($context + ': its job is still running after ' + $timeoutSeconds + ' seconds (JobState ' + $state + ', ' + [string](Get-HvProp $job 'PercentComplete') + '% complete)'))
        }
        Start-Sleep -Milliseconds 500
    }
    if ($state -eq 7) { return $null }
    $code = [string](Get-HvProp $job 'ErrorCode')
    $description = [string](Get-HvProp $job 'ErrorDescription')
    if ($description.Length -eq 0) { $description = [string](Get-HvProp $job 'ErrorSummaryDescription') }
    return (New-HvErrorRecord 'JobFailed' ($context + ': job failed (JobState ' + $state + ', ErrorCode ' + $code + '): ' + $description))
}

# Calls a WMI method the order-independent way (brief 5.1): GetMethodParameters, the named
# arguments, InvokeMethod. 0 = done; 4096 = wait for the job (if the method returned one); any other return code ends the
# script with an error of that code's name, unless it is listed in $HvAccept (the caller then
# reads ReturnValue itself). Returns the out-parameters (REF outputs are path strings).
function Invoke-HvWmiMethod {
    [CmdletBinding()]
    param($HvObject, [string]$HvMethod, [hashtable]$HvArguments, [string]$HvTarget, [int]$HvTimeout = 600, [int[]]$HvAccept = @())
    $context = $HvMethod + ' on ' + $HvTarget
    $in = $HvObject.psbase.GetMethodParameters($HvMethod)
    foreach ($key in @($HvArguments.Keys)) { $in.psbase.SetPropertyValue($key, $HvArguments[$key]) }
    try {
        $out = $HvObject.psbase.InvokeMethod($HvMethod, $in, $null)
    } catch {
        $PSCmdlet.ThrowTerminatingError((New-HvWrappedRecord $_ $context))
    }
    $code = [int]$out.psbase.GetPropertyValue('ReturnValue')
    if ($code -eq 4096) {
        # Some methods answer 4096 ("transition started") without a Job out-parameter, or with
        # an empty one (Msvm_ShutdownComponent.InitiateShutdown has none): nothing to poll; the
        # caller waits for the effect itself (e.g. Wait-HvVmState).
        $jobPath = $null
        if (Test-HvWmiProperty $out 'Job') { $jobPath = [string]$out.psbase.GetPropertyValue('Job') }
        if ($null -ne $jobPath -and $jobPath.Length -gt 0) {
            $failure = Wait-HvWmiJob $jobPath $context $HvTimeout
            if ($null -ne $failure) { $PSCmdlet.ThrowTerminatingError($failure) }
        }
    } elseif ($code -ne 0 -and $HvAccept -notcontains $code) {
        $name = Get-HvReturnCodeName $code
        $PSCmdlet.ThrowTerminatingError((New-HvErrorRecord $name ($context + ' failed: return code ' + $code + ' ' + $name)))
    }
    return $out
}

# The value of an out-parameter (a path for REF outputs).
function Get-HvOut($out, [string]$name) {
    return $out.psbase.GetPropertyValue($name)
}

function Test-HvWmiProperty($object, [string]$name) {
    foreach ($property in $object.psbase.Properties) {
        if ($property.Name -eq $name) { return $true }
    }
    return $false
}

# Embedded-instance text of a (modified) setting: GetText(1) = CimDtd20 (brief 5.1).
function Get-HvEmbeddedText($setting) {
    return $setting.psbase.GetText([Management.TextFormat]::CimDtd20)
}

# A copy of the default setting of a resource subtype: the instance whose InstanceID contains
# 'Default' (brief 5.4: nova's WQL LIKE '%Default%', compared here in PowerShell). The WQL
# filter holds only the subtype, a constant of these templates.
function Get-HvDefaultSetting([string]$class, [string]$subType) {
    foreach ($setting in @(Get-WmiObject -Namespace $HvNamespace -Class $class -Filter ("ResourceSubType = '" + $subType + "'"))) {
        if ([string]$setting.InstanceID -like '*Default*') { return $setting.psbase.Clone() }
    }
    throw ('no default ' + $class + ' for ' + $subType + ' (no instance whose InstanceID contains Default)')
}

# ---- VMs: Msvm_ComputerSystem (brief 5.2, 5.3) ----------------------------------------------
function Get-HvVm([string]$id, [string]$name) {
    foreach ($vm in @(Get-WmiObject -Namespace $HvNamespace -Class Msvm_ComputerSystem)) {
        if ([string]$vm.Name -eq $id) { return $vm }
    }
    throw ("virtual machine '{0}' (id {1}) not found: no Msvm_ComputerSystem has Name '{1}'" -f $name, $id)
}

# The VM's live configuration: its Msvm_VirtualSystemSettingData with SettingType 3 (the
# others are snapshots).
function Get-HvVmSettings($vm) {
    foreach ($setting in @($vm.GetRelated('Msvm_VirtualSystemSettingData'))) {
        if ([int]$setting.SettingType -eq 3) { return $setting }
    }
    throw ("virtual machine '{0}' (id {1}) has no Msvm_VirtualSystemSettingData with SettingType 3" -f [string]$vm.ElementName, [string]$vm.Name)
}

function Get-HvVmStateName([int]$enabledState) {
    switch ($enabledState) {
        2 { return 'running' }
        3 { return 'off' }
        32768 { return 'paused' }
        32769 { return 'saved' }
    }
    return 'other'
}

# Waits until the VM (fetched again each second) has EnabledState $wanted; returns it.
function Wait-HvVmState {
    [CmdletBinding()]
    param([string]$HvVmPath, [int]$HvWanted, [string]$HvTarget, [int]$HvTimeout)
    $deadline = [DateTime]::UtcNow.AddSeconds($HvTimeout)
    while ($true) {
        $vm = [wmi]$HvVmPath
        $state = [int]$vm.EnabledState
        if ($state -eq $HvWanted) { return $vm }
        if ([DateTime]::UtcNow -gt $deadline) {
            $PSCmdlet.ThrowTerminatingError((New-HvErrorRecord 'Timeout' ($HvTarget + ' is still ' + (Get-HvVmStateName $state) + ' (EnabledState ' + $state + ') after ' + $HvTimeout + ' seconds, not ' + (Get-HvVmStateName $HvWanted))))
        }
        Start-Sleep -Seconds 1
    }
}

# RequestStateChange(2 start | 3 turn off) and wait for that EnabledState. 32775 InvalidState
# is usually "already in that state" (brief 5.2): accepted when the VM is in it.
function Set-HvVmState {
    [CmdletBinding()]
    param($HvVm, [int]$HvRequested, [string]$HvTarget)
    $out = Invoke-HvWmiMethod $HvVm 'RequestStateChange' @{ 'RequestedState' = [uint16]$HvRequested } $HvTarget 600 @(32775)
    if ([int](Get-HvOut $out 'ReturnValue') -eq 32775) {
        $now = [int]([wmi][string]$HvVm.__PATH).EnabledState
        if ($now -ne $HvRequested) {
            $PSCmdlet.ThrowTerminatingError((New-HvErrorRecord 'InvalidState' ('RequestStateChange on ' + $HvTarget + ' failed: return code 32775 InvalidState (the VM is ' + (Get-HvVmStateName $now) + ', EnabledState ' + $now + ')')))
        }
    }
    return Wait-HvVmState ([string]$HvVm.__PATH) $HvRequested $HvTarget 300
}

# Msvm_VirtualSystemManagementService.AddVirtualSystemResources(TargetSystem,
# ResourceSettingData[]): adds one setting, returns the path of the new resource.
function Add-HvVmResource($vm, $setting, [string]$target) {
    $out = Invoke-HvWmiMethod (Get-HvService 'Msvm_VirtualSystemManagementService') 'AddVirtualSystemResources' @{
        'TargetSystem' = [string]$vm.__PATH
        'ResourceSettingData' = [string[]]@(Get-HvEmbeddedText $setting)
    } $target
    $created = @(Get-HvOut $out 'NewResources')
    if ($created.Count -eq 0 -or $null -eq $created[0]) {
        throw ('AddVirtualSystemResources on ' + $target + ' returned no new resource for ' + [string]$setting.ResourceSubType)
    }
    return [string]$created[0]
}

# RemoveVirtualSystemResources(TargetSystem, ResourceSettingData[] = paths).
function Remove-HvVmResources($vm, [string[]]$paths, [string]$target) {
    [void](Invoke-HvWmiMethod (Get-HvService 'Msvm_VirtualSystemManagementService') 'RemoveVirtualSystemResources' @{
        'TargetSystem' = [string]$vm.__PATH
        'ResourceSettingData' = $paths
    } $target)
}

# ModifyVirtualSystemResources(ComputerSystem, ResourceSettingData[] = GetText(1) strings).
function Set-HvVmResources($vm, [string[]]$texts, [string]$target) {
    [void](Invoke-HvWmiMethod (Get-HvService 'Msvm_VirtualSystemManagementService') 'ModifyVirtualSystemResources' @{
        'ComputerSystem' = [string]$vm.__PATH
        'ResourceSettingData' = $texts
    } $target)
}

# Msvm_MemorySettingData (MB) as GetText(1), brief 5.3. Static memory: VirtualQuantity =
# Reservation = Limit. 2008 R2 SP1 Dynamic Memory: DynamicMemoryEnabled, VirtualQuantity =
# Reservation = the startup memory (SP1 has no separate minimum), Limit = the maximum (64 GB,
# the 2008 R2 limit, when not given), TargetMemoryBuffer = the buffer in percent.
# $startupMb $null keeps the current startup memory; $setDynamic $false keeps the current mode.
function Get-HvMemoryText($vssd, $startupMb, [bool]$setDynamic, $dynamic, [string]$target) {
    $memory = @($vssd.GetRelated('Msvm_MemorySettingData'))[0]
    if ($null -eq $memory) { throw ($target + ' has no Msvm_MemorySettingData') }
    $canDynamic = Test-HvWmiProperty $memory 'DynamicMemoryEnabled'
    $startup = [uint64]$memory.VirtualQuantity
    if ($null -ne $startupMb) { $startup = [uint64]$startupMb }
    $enable = $canDynamic -and [bool]$memory.DynamicMemoryEnabled
    if ($setDynamic) { $enable = ($null -ne $dynamic) }
    if ($enable) {
        if (-not $canDynamic) {
            Stop-HvError 'NotSupported' ('ModifyVirtualSystemResources on ' + $target + ': Dynamic Memory needs Windows Server 2008 R2 SP1 (this Msvm_MemorySettingData has no DynamicMemoryEnabled)')
        }
        $memory.psbase.SetPropertyValue('DynamicMemoryEnabled', $true)
        $memory.psbase.SetPropertyValue('VirtualQuantity', $startup)
        $memory.psbase.SetPropertyValue('Reservation', $startup)
        if ($setDynamic) {
            $limit = [uint64]65536
            if ($null -ne $dynamic['max_mb']) { $limit = [uint64]$dynamic['max_mb'] }
            $memory.psbase.SetPropertyValue('Limit', $limit)
            if ($null -ne $dynamic['buffer']) { $memory.psbase.SetPropertyValue('TargetMemoryBuffer', [uint32]$dynamic['buffer']) }
        } elseif ([uint64]$memory.Limit -lt $startup) {
            $memory.psbase.SetPropertyValue('Limit', $startup)
        }
    } else {
        if ($canDynamic) { $memory.psbase.SetPropertyValue('DynamicMemoryEnabled', $false) }
        $memory.psbase.SetPropertyValue('VirtualQuantity', $startup)
        $memory.psbase.SetPropertyValue('Reservation', $startup)
        $memory.psbase.SetPropertyValue('Limit', $startup)
    }
    return Get-HvEmbeddedText $memory
}

# Msvm_ProcessorSettingData as GetText(1): VirtualQuantity = the number of virtual processors
# (Limit, Reservation and Weight keep their values).
function Get-HvProcessorText($vssd, [int]$count, [string]$target) {
    $processor = @($vssd.GetRelated('Msvm_ProcessorSettingData'))[0]
    if ($null -eq $processor) { throw ($target + ' has no Msvm_ProcessorSettingData') }
    $processor.psbase.SetPropertyValue('VirtualQuantity', [uint64]$count)
    return Get-HvEmbeddedText $processor
}

# Notes: the v1 MOF has `string Notes` on Msvm_VirtualSystemSettingData (not on
# Msvm_VirtualSystemGlobalSettingData); the facts template reads it from the SettingType 3
# VSSD. Changed with ModifyVirtualSystem(ComputerSystem, SystemSettingData = VSSD GetText(1)).
function Set-HvVmNotes($vm, [string]$notes, [string]$target) {
    $vssd = Get-HvVmSettings $vm
    $vssd.psbase.SetPropertyValue('Notes', $notes)
    [void](Invoke-HvWmiMethod (Get-HvService 'Msvm_VirtualSystemManagementService') 'ModifyVirtualSystem' @{
        'ComputerSystem' = [string]$vm.__PATH
        'SystemSettingData' = (Get-HvEmbeddedText $vssd)
    } $target)
}

# ---- disks: brief 5.5 recipe 2 (IDE, which 2008 R2 boots from) ----------------------------
# The first free IDE location (controller 0 then 1, location 0 then 1; DVD drives count) gets a
# copy of the default 'Microsoft Synthetic Disk Drive' (Parent = the 'Microsoft Emulated IDE
# Controller' with that Address, Address = the location), and that drive a copy of the default
# 'Microsoft Virtual Hard Disk' (Parent = the drive, Connection = @(path)), each added with
# AddVirtualSystemResources. The first disk of a new VM therefore lands on IDE 0:0.
function Add-HvVmDisk {
    [CmdletBinding()]
    param($HvVm, [string]$HvPath, [string]$HvTarget)
    $rasds = @((Get-HvVmSettings $HvVm).GetRelated('Msvm_ResourceAllocationSettingData'))
    $controllers = @{}
    foreach ($rasd in $rasds) {
        if ([string]$rasd.ResourceSubType -eq 'Microsoft Emulated IDE Controller') { $controllers[[string]$rasd.Address] = $rasd }
    }
    $used = @{}
    foreach ($rasd in $rasds) {
        $type = [int]$rasd.ResourceType
        $parentPath = [string]$rasd.Parent
        if (@(15, 16, 22) -notcontains $type -or $parentPath.Length -eq 0) { continue }
        $parent = [wmi]$parentPath
        foreach ($address in @($controllers.Keys)) {
            if ([string]$controllers[$address].InstanceID -eq [string]$parent.InstanceID) {
                $used[$address + ':' + [string]$rasd.Address] = $true
            }
        }
    }
    $slot = $null
    foreach ($candidate in @('0:0', '0:1', '1:0', '1:1')) {
        if ($controllers.ContainsKey($candidate.Split(':')[0]) -and -not $used.ContainsKey($candidate)) {
            $slot = $candidate
            break
        }
    }
    if ($null -eq $slot) {
        $PSCmdlet.ThrowTerminatingError((New-HvErrorRecord 'InvalidParameter' ('AddVirtualSystemResources on ' + $HvTarget + ': no free IDE location for ' + $HvPath + ' (2 controllers x 2 locations; 2008 R2 boots from IDE)')))
    }
    $drive = Get-HvDefaultSetting 'Msvm_ResourceAllocationSettingData' 'Microsoft Synthetic Disk Drive'
    $drive.psbase.SetPropertyValue('Parent', [string]$controllers[$slot.Split(':')[0]].__PATH)
    $drive.psbase.SetPropertyValue('Address', $slot.Split(':')[1])
    $drivePath = Add-HvVmResource $HvVm $drive $HvTarget
    try {
        $media = Get-HvDefaultSetting 'Msvm_ResourceAllocationSettingData' 'Microsoft Virtual Hard Disk'
        $media.psbase.SetPropertyValue('Parent', $drivePath)
        $media.psbase.SetPropertyValue('Connection', [string[]]@($HvPath))
        [void](Add-HvVmResource $HvVm $media $HvTarget)
    } catch {
        $failure = $_
        try { Remove-HvVmResources $HvVm @($drivePath) $HvTarget } catch { $null = $_ }
        throw $failure
    }
}

# Detaches a VHD: RemoveVirtualSystemResources on its 'Microsoft Virtual Hard Disk' media, then
# on the drive that held it (an empty drive would keep its IDE location).
function Remove-HvVmDisk($vm, [string]$path, [string]$target) {
    $media = $null
    foreach ($rasd in @((Get-HvVmSettings $vm).GetRelated('Msvm_ResourceAllocationSettingData'))) {
        if ([string]$rasd.ResourceSubType -eq 'Microsoft Virtual Hard Disk' -and @($rasd.Connection) -contains $path) { $media = $rasd }
    }
    if ($null -eq $media) { throw ("disk '{0}' is not attached to {1} (not found)" -f $path, $target) }
    $drivePath = [string]$media.Parent
    Remove-HvVmResources $vm @([string]$media.__PATH) $target
    if ($drivePath.Length -gt 0) { Remove-HvVmResources $vm @($drivePath) $target }
}

# Names of the VMs (live configurations) that have $path attached, as "'name' (id)".
function Get-HvVmsUsingDisk([string]$path) {
    $users = New-Object System.Collections.ArrayList
    $guid = '^\{?[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\}?$'
    foreach ($vm in @(Get-WmiObject -Namespace $HvNamespace -Class Msvm_ComputerSystem)) {
        if ([string]$vm.Caption -ne 'Virtual Machine' -and [string]$vm.Name -notmatch $guid) { continue }
        foreach ($setting in @($vm.GetRelated('Msvm_VirtualSystemSettingData'))) {
            if ([int]$setting.SettingType -ne 3) { continue }
            foreach ($rasd in @($setting.GetRelated('Msvm_ResourceAllocationSettingData'))) {
                if ([string]$rasd.ResourceSubType -eq 'Microsoft Virtual Hard Disk' -and @($rasd.Connection) -contains $path) {
                    [void]$users.Add(("'{0}' ({1})" -f [string]$vm.ElementName, [string]$vm.Name))
                }
            }
        }
    }
    return ,$users
}

# ---- switches and NICs: brief 4.2, 4.3, 5.5 recipe 4 ----------------------------------------
function Get-HvSwitchById([string]$id, [string]$name) {
    foreach ($switch in @(Get-WmiObject -Namespace $HvNamespace -Class Msvm_VirtualSwitch)) {
        if ([string]$switch.Name -eq $id) { return $switch }
    }
    throw ("virtual switch '{0}' (id {1}) not found: no Msvm_VirtualSwitch has Name '{1}'" -f $name, $id)
}

# The one switch whose ElementName is $name (names are not unique: two is an error).
function Get-HvSwitchByName([string]$name) {
    $found = @(Get-WmiObject -Namespace $HvNamespace -Class Msvm_VirtualSwitch | Where-Object { [string]$_.ElementName -eq $name })
    if ($found.Count -eq 0) { throw ("virtual switch '{0}' not found (no Msvm_VirtualSwitch with that ElementName)" -f $name) }
    if ($found.Count -gt 1) {
        $ids = [string]::Join(', ', [string[]]@($found | ForEach-Object { [string]$_.Name }))
        throw ("{0} virtual switches are named '{1}' (ids {2}): the name is ambiguous" -f $found.Count, $name, $ids)
    }
    return $found[0]
}

# CreateSwitchPort(VirtualSwitch, Name = new GUID, FriendlyName, ScopeOfResidence = ''):
# returns the new Msvm_SwitchPort path.
function New-HvSwitchPort($switch, [string]$friendlyName, [string]$target) {
    $out = Invoke-HvWmiMethod (Get-HvService 'Msvm_VirtualSwitchManagementService') 'CreateSwitchPort' @{
        'VirtualSwitch' = [string]$switch.__PATH
        'Name' = [guid]::NewGuid().ToString()
        'FriendlyName' = $friendlyName
        'ScopeOfResidence' = ''
    } $target
    return [string](Get-HvOut $out 'CreatedSwitchPort')
}

# DeleteSwitchPort(SwitchPort), best effort: a port left over after its NIC is gone is unused
# and invisible, not worth failing a run for.
function Remove-HvSwitchPort([string]$portPath, [string]$target) {
    if ($portPath.Length -eq 0) { return }
    try {
        [void](Invoke-HvWmiMethod (Get-HvService 'Msvm_VirtualSwitchManagementService') 'DeleteSwitchPort' @{ 'SwitchPort' = $portPath } $target)
    } catch {
        $null = $_
    }
}

# The LAN endpoint of an internal (host vNIC) or bound external Ethernet port: brief 4.1,
# ASSOCIATORS OF {port} WHERE ResultClass = CIM_LANEndpoint, i.e. GetRelated('CIM_LANEndpoint').
function Get-HvLanEndpoint($port, [string]$target) {
    $endpoint = @($port.GetRelated('CIM_LANEndpoint'))[0]
    if ($null -eq $endpoint) { throw ($target + ': ' + [string]$port.__CLASS + ' ' + [string]$port.ElementName + ' has no CIM_LANEndpoint') }
    return $endpoint
}

# The physical adapter as Msvm_ExternalEthernetPort: its connection name (the adapter name in
# the facts) -> Win32_NetworkAdapter -> the port whose ElementName is the adapter's description,
# else whose PermanentAddress is its MAC (the facts template matches them the same way).
function Get-HvExternalPort([string]$adapter) {
    $nic = $null
    foreach ($candidate in @(Get-WmiObject -Class Win32_NetworkAdapter)) {
        if ([string]$candidate.NetConnectionID -eq $adapter) { $nic = $candidate }
    }
    if ($null -eq $nic) { throw ("network adapter '{0}' not found: no Win32_NetworkAdapter has that connection name" -f $adapter) }
    $ports = @(Get-WmiObject -Namespace $HvNamespace -Class Msvm_ExternalEthernetPort)
    foreach ($port in $ports) {
        if ([string]$port.ElementName -eq [string]$nic.Name) { return $port }
    }
    $mac = ConvertTo-HvMac ([string]$nic.MACAddress)
    foreach ($port in $ports) {
        if ($mac.Length -gt 0 -and (ConvertTo-HvMac ([string](Get-HvProp $port 'PermanentAddress'))) -eq $mac) { return $port }
    }
    throw ("network adapter '{0}' ({1}) is not a physical adapter Hyper-V can bind: no Msvm_ExternalEthernetPort matches it" -f $adapter, [string]$nic.Name)
}

# What is attached to a switch, found the way the facts template does: its ports' LAN
# endpoints and their Msvm_ExternalEthernetPort / Msvm_InternalEthernetPort.
function Get-HvSwitchEnds($switch) {
    $ends = @{ 'external' = $null; 'internal' = $null }
    foreach ($port in @($switch.GetRelated('Msvm_SwitchPort'))) {
        foreach ($endpoint in @($port.GetRelated('Msvm_SwitchLANEndpoint'))) {
            foreach ($external in @($endpoint.GetRelated('Msvm_ExternalEthernetPort'))) { $ends['external'] = $external }
            foreach ($internal in @($endpoint.GetRelated('Msvm_InternalEthernetPort'))) { $ends['internal'] = $internal }
        }
    }
    return $ends
}

# The VM's network adapters: synthetic and emulated (legacy) port setting data.
function Get-HvVmNics($vm) {
    $vssd = Get-HvVmSettings $vm
    return @(@($vssd.GetRelated('Msvm_SyntheticEthernetPortSettingData')) + @($vssd.GetRelated('Msvm_EmulatedEthernetPortSettingData')))
}

# The switch ports the VM's adapters are connected to (paths).
function Get-HvVmSwitchPorts($vm) {
    $ports = New-Object System.Collections.ArrayList
    foreach ($nic in @(Get-HvVmNics $vm)) {
        foreach ($connection in @($nic.Connection)) {
            if ($null -ne $connection -and ([string]$connection).Length -gt 0) { [void]$ports.Add([string]$connection) }
        }
    }
    return ,$ports
}

# Brief 5.5 recipe 4: a port on the switch (CreateSwitchPort), then a copy of the default
# synthetic port setting data (legacy: emulated) with ElementName, a new
# VirtualSystemIdentifiers GUID in braces (synthetic only), Connection = @(port) and an optional
# static MAC (Address = 12 hex digits, StaticMacAddress), added with AddVirtualSystemResources.
# $nic: @{ name; switch (or $null: not connected); mac; legacy }.
function Add-HvVmNic($vm, $nic, [string]$target) {
    $legacy = [bool]$nic['legacy']
    $name = [string]$nic['name']
    if ($name.Length -eq 0) {
        $name = 'Network Adapter'
        if ($legacy) { $name = 'Legacy Network Adapter' }
    }
    $portPath = ''
    if ($null -ne $nic['switch']) {
        $portPath = New-HvSwitchPort (Get-HvSwitchByName ([string]$nic['switch'])) $name $target
    }
    try {
        if ($legacy) {
            $port = Get-HvDefaultSetting 'Msvm_EmulatedEthernetPortSettingData' 'Microsoft Emulated Ethernet Port'
        } else {
            $port = Get-HvDefaultSetting 'Msvm_SyntheticEthernetPortSettingData' 'Microsoft Synthetic Ethernet Port'
            $port.psbase.SetPropertyValue('VirtualSystemIdentifiers', [string[]]@('{' + [guid]::NewGuid().ToString() + '}'))
        }
        $port.psbase.SetPropertyValue('ElementName', $name)
        if ($portPath.Length -gt 0) { $port.psbase.SetPropertyValue('Connection', [string[]]@($portPath)) }
        if ($null -ne $nic['mac']) {
            $port.psbase.SetPropertyValue('Address', (ConvertTo-HvMac ([string]$nic['mac'])))
            $port.psbase.SetPropertyValue('StaticMacAddress', $true)
        }
        [void](Add-HvVmResource $vm $port $target)
    } catch {
        $failure = $_
        Remove-HvSwitchPort $portPath $target
        throw $failure
    }
}

# Removes every adapter named $name (RemoveVirtualSystemResources), then their switch ports.
function Remove-HvVmNic($vm, [string]$name, [string]$target) {
    $found = @(Get-HvVmNics $vm | Where-Object { [string]$_.ElementName -eq $name })
    if ($found.Count -eq 0) { throw ("network adapter '{0}' of {1} not found" -f $name, $target) }
    $paths = New-Object System.Collections.ArrayList
    $ports = New-Object System.Collections.ArrayList
    foreach ($nic in $found) {
        [void]$paths.Add([string]$nic.__PATH)
        foreach ($connection in @($nic.Connection)) { if ($null -ne $connection) { [void]$ports.Add([string]$connection) } }
    }
    Remove-HvVmResources $vm ([string[]]$paths.ToArray([string])) $target
    foreach ($port in $ports) { Remove-HvSwitchPort $port $target }
}

# Connects every adapter named $name to the switch named $switchName ($null: disconnects it):
# a new port on that switch, the adapter's Connection changed with ModifyVirtualSystemResources,
# then the old port deleted.
function Connect-HvVmNic($vm, [string]$name, $switchName, [string]$target) {
    $found = @(Get-HvVmNics $vm | Where-Object { [string]$_.ElementName -eq $name })
    if ($found.Count -eq 0) { throw ("network adapter '{0}' of {1} not found" -f $name, $target) }
    $switch = $null
    if ($null -ne $switchName) { $switch = Get-HvSwitchByName ([string]$switchName) }
    foreach ($nic in $found) {
        $oldPorts = @($nic.Connection)
        $portPath = ''
        if ($null -ne $switch) {
            $portPath = New-HvSwitchPort $switch $name $target
            $nic.psbase.SetPropertyValue('Connection', [string[]]@($portPath))
        } else {
            $nic.psbase.SetPropertyValue('Connection', $null)
        }
        try {
            Set-HvVmResources $vm @(Get-HvEmbeddedText $nic) $target
        } catch {
            $failure = $_
            Remove-HvSwitchPort $portPath $target
            throw $failure
        }
        foreach ($old in $oldPorts) { if ($null -ne $old) { Remove-HvSwitchPort ([string]$old) $target } }
    }
}

# Best-effort removal of a half-created VM (vm_create failed): its switch ports, then
# DestroyVirtualSystem. Errors are ignored; the original error is what the run reports.
function Remove-HvPartialVm($vm, [string]$target) {
    try {
        $ports = Get-HvVmSwitchPorts $vm
        [void](Invoke-HvWmiMethod (Get-HvService 'Msvm_VirtualSystemManagementService') 'DestroyVirtualSystem' @{ 'ComputerSystem' = [string]$vm.__PATH } $target)
        foreach ($port in $ports) { Remove-HvSwitchPort $port $target }
    } catch {
        $null = $_
    }
}
try {
    $vmName = ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('T+KAmUJyaWVuJ3MgImxhYiIgJChSZW1vdmUtSXRlbSBDOlwgLVJlY3Vyc2UpIGBuICR7ZW52OlBBVEh9IMOEcmdlciDmvKLlrZc=')))
    $memoryMb = 1024
    $dynamicMemory = @{'min_mb' = $null; 'max_mb' = 8192; 'buffer' = 20}
    $cpuCount = 4
    $notes = [string]([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('b3duZXI6IE8nQnJpZW4KdGlja2V0OiAkKGNhbGMpIGB0CidACiJACuKAmHNtYXJ04oCZIOKAnHF1b3Rlc+KAnSDwn5iA')))
    $disks = @(@{'path' = ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('RDpcSHlwZXItVlxP4oCZQnJpZW4ncyAkKHdob2FtaSkgYGRpc2tgXFt3ZWJdIDAxIMOpdMOpLnZoZA==')))}, @{'path' = ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('QzpcVk1zXGRhdGEgWzJdLnZoZA==')))})
    $nics = @(@{'name' = ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('VXBsaW5rIOKAmUHigJkgJHg='))); 'switch' = ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('TEFOIOKAmHVwbGlua+KAmSDigJxETVrigJ07IGV4aXQgMSAjIMO8YmVy'))); 'mac' = '00-15-5D-01-02-0A'; 'legacy' = $false; 'vlan' = $null}, @{'name' = 'Legacy Network Adapter'; 'switch' = $null; 'mac' = $null; 'legacy' = $true; 'vlan' = $null})
    $what = ("virtual machine '{0}'" -f $vmName)
    $vsms = Get-HvService 'Msvm_VirtualSystemManagementService'

    # DefineVirtualSystem(SystemSettingData = global settings as GetText(1)); DefinedSystem is
    # the new Msvm_ComputerSystem's path.
    $globalSettings = ([wmiclass]'\\.\root\virtualization:Msvm_VirtualSystemGlobalSettingData').CreateInstance()
    $null = $globalSettings.psobject.Properties  # pshyperv: a fresh instance's properties are read once before use
    $globalSettings.psbase.SetPropertyValue('ElementName', $vmName)
    $out = Invoke-HvWmiMethod $vsms 'DefineVirtualSystem' @{ 'SystemSettingData' = (Get-HvEmbeddedText $globalSettings) } $what
    $vm = [wmi][string](Get-HvOut $out 'DefinedSystem')
    $what = ("virtual machine '{0}' (id {1})" -f $vmName, [string]$vm.Name)
    try {
        # Memory and processors: ModifyVirtualSystemResources(ComputerSystem, @(memory, processor)).
        $vssd = Get-HvVmSettings $vm
        $texts = @((Get-HvMemoryText $vssd $memoryMb $true $dynamicMemory $what), (Get-HvProcessorText $vssd $cpuCount $what))
        Set-HvVmResources $vm $texts $what
        if ($notes.Length -gt 0) { Set-HvVmNotes $vm $notes $what }
        foreach ($disk in $disks) { Add-HvVmDisk $vm ([string]$disk['path']) $what }
        foreach ($nic in $nics) { Add-HvVmNic $vm $nic $what }
    } catch {
        $failure = $_
        Remove-HvPartialVm $vm $what
        throw $failure
    }
    Write-HvResult @{ 'id' = [string]$vm.Name }
    throw 'hvprov: the script ended without writing a result'
} catch {
    Write-HvError $_
}
