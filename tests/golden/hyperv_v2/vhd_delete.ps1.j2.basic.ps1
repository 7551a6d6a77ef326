# hvprov-template: hyperv_v2/vhd_delete.ps1.j2
# hvprov-params: {"path":"D:\\Hyper-V\\Virtual Hard Disks\\old.vhdx"}
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

# ---- lookups: VMs and switches by id, switches by name ------------------------------------
# A VM is addressed by its Id (a Guid, compared as text); its name is only for messages.
function Get-HvVmById([string]$id, [string]$name) {
    $found = @(Get-VM | Where-Object { $_.Id.ToString() -eq $id })
    if ($found.Count -eq 0) { throw ("virtual machine '{0}' (id {1}) not found: Get-VM lists no VM with that Id" -f $name, $id) }
    return $found[0]
}

function Get-HvSwitchById([string]$id, [string]$name) {
    $found = @(Get-VMSwitch | Where-Object { $_.Id.ToString() -eq $id })
    if ($found.Count -eq 0) { throw ("virtual switch '{0}' (id {1}) not found: Get-VMSwitch lists no switch with that Id" -f $name, $id) }
    return $found[0]
}

# -SwitchName must name exactly one switch (names are not unique on Hyper-V).
function Assert-HvUniqueSwitch([string]$name) {
    $found = @(Get-VMSwitch | Where-Object { [string]$_.Name -eq $name })
    if ($found.Count -eq 0) { throw ("virtual switch '{0}' not found (Get-VMSwitch lists no switch with that name)" -f $name) }
    if ($found.Count -gt 1) {
        $ids = [string]::Join(', ', [string[]]@($found | ForEach-Object { $_.Id.ToString() }))
        throw ("{0} virtual switches are named '{1}' (ids {2}): the name is ambiguous" -f $found.Count, $name, $ids)
    }
}

# The interface description of a network adapter given by connection name (what the facts
# report as the adapter name and New-VMSwitch -NetAdapterName takes), via Win32_NetworkAdapter.
function Get-HvAdapterDescription([string]$adapter) {
    foreach ($nic in @(Get-WmiObject -Class Win32_NetworkAdapter)) {
        if ([string]$nic.NetConnectionID -eq $adapter) { return [string]$nic.Name }
    }
    throw ("network adapter '{0}' not found: no Win32_NetworkAdapter has that connection name" -f $adapter)
}

function Get-HvVmStateName($vm) {
    switch ([string]$vm.State) {
        'Running' { return 'running' }
        'Off' { return 'off' }
        'Saved' { return 'saved' }
        'Paused' { return 'paused' }
    }
    return 'other'
}

# ---- VM settings ----------------------------------------------------------------------------
# Set-VMMemory: startup memory (MB -> bytes), and with $setDynamic Dynamic Memory on
# ($dynamic = @{ min_mb; max_mb; buffer }: minimum default 512 MB or the startup memory if that
# is lower, maximum default left to Hyper-V) or off ($dynamic = $null). $startupMb $null keeps
# the startup memory.
function Set-HvVmMemory($vm, $startupMb, [bool]$setDynamic, $dynamic, [string]$target) {
    $startup = [int64]$vm.MemoryStartup
    if ($null -ne $startupMb) { $startup = [int64]$startupMb * 1048576 }
    $memoryArgs = @{ 'VM' = $vm; 'StartupBytes' = $startup }
    if ($setDynamic -and $null -eq $dynamic) {
        $memoryArgs['DynamicMemoryEnabled'] = $false
    } elseif ($setDynamic) {
        $minimum = [Math]::Min([int64]536870912, $startup)
        if ($null -ne $dynamic['min_mb']) { $minimum = [int64]$dynamic['min_mb'] * 1048576 }
        $memoryArgs['DynamicMemoryEnabled'] = $true
        $memoryArgs['MinimumBytes'] = $minimum
        if ($null -ne $dynamic['max_mb']) { $memoryArgs['MaximumBytes'] = [int64]$dynamic['max_mb'] * 1048576 }
        if ($null -ne $dynamic['buffer']) { $memoryArgs['Buffer'] = [int]$dynamic['buffer'] }
    }
    Invoke-HvCmdlet 'Set-VMMemory' $target { Set-VMMemory @memoryArgs }
}

# ---- disks ----------------------------------------------------------------------------------
# Add-VMHardDiskDrive. Generation 1 boots from IDE: the first free IDE location (0:0, 0:1, 1:0,
# 1:1; DVD drives count), so a new VM's first disk is IDE 0:0; when IDE is full, SCSI (a SCSI
# controller is added if the VM has none). Generation 2 has SCSI only.
function Add-HvVmDisk($vm, [string]$path, [string]$target) {
    $generation = Get-HvProp $vm 'Generation'
    if ($null -eq $generation -or [int]$generation -eq 1) {
        $used = @{}
        foreach ($drive in @(@(Get-VMHardDiskDrive -VM $vm) + @(Get-VMDvdDrive -VM $vm))) {
            if ($null -ne $drive -and [string]$drive.ControllerType -eq 'IDE') {
                $used[[string]$drive.ControllerNumber + ':' + [string]$drive.ControllerLocation] = $true
            }
        }
        foreach ($slot in @('0:0', '0:1', '1:0', '1:1')) {
            if ($used.ContainsKey($slot)) { continue }
            $number = [int]$slot.Split(':')[0]
            $location = [int]$slot.Split(':')[1]
            Invoke-HvCmdlet 'Add-VMHardDiskDrive' $target {
                Add-VMHardDiskDrive -VM $vm -ControllerType IDE -ControllerNumber $number -ControllerLocation $location -Path $path
            }
            return
        }
    }
    if (@(Get-VMScsiController -VM $vm).Count -eq 0) {
        Invoke-HvCmdlet 'Add-VMScsiController' $target { Add-VMScsiController -VM $vm }
    }
    Invoke-HvCmdlet 'Add-VMHardDiskDrive' $target { Add-VMHardDiskDrive -VM $vm -ControllerType SCSI -Path $path }
}

# ---- network adapters -----------------------------------------------------------------------
# Add-VMNetworkAdapter [-Name] [-SwitchName] [-IsLegacy] [-StaticMacAddress], then
# Set-VMNetworkAdapterVlan -Access -VlanId. $nic: @{ name; switch; mac; legacy; vlan }.
function Add-HvVmNic($vm, $nic, [string]$target) {
    $nicArgs = @{ 'VM' = $vm; 'Passthru' = $true }
    if ($null -ne $nic['name']) { $nicArgs['Name'] = [string]$nic['name'] }
    if ($null -ne $nic['switch']) {
        Assert-HvUniqueSwitch ([string]$nic['switch'])
        $nicArgs['SwitchName'] = [string]$nic['switch']
    }
    if ([bool]$nic['legacy']) { $nicArgs['IsLegacy'] = $true }
    if ($null -ne $nic['mac']) { $nicArgs['StaticMacAddress'] = ConvertTo-HvMac ([string]$nic['mac']) }
    $adapter = Invoke-HvCmdlet 'Add-VMNetworkAdapter' $target { Add-VMNetworkAdapter @nicArgs }
    if ($null -ne $nic['vlan']) {
        $vlan = [int]$nic['vlan']
        Invoke-HvCmdlet 'Set-VMNetworkAdapterVlan' $target { Set-VMNetworkAdapterVlan -VMNetworkAdapter $adapter -Access -VlanId $vlan }
    }
}

function Get-HvVmNics($vm, [string]$name, [string]$target) {
    $found = @(Get-VMNetworkAdapter -VM $vm | Where-Object { [string]$_.Name -eq $name })
    if ($found.Count -eq 0) { throw ("network adapter '{0}' of {1} not found" -f $name, $target) }
    return $found
}
try {
    $vhdPath = 'D:\Hyper-V\Virtual Hard Disks\old.vhdx'
    $what = ("virtual hard disk '{0}'" -f $vhdPath)
    Import-Module Hyper-V
    $item = Get-Item -LiteralPath $vhdPath -Force
    if ($item.PSIsContainer) { throw ("cannot delete '{0}': it is a folder, not a virtual hard disk file" -f $vhdPath) }
    $users = New-Object System.Collections.ArrayList
    foreach ($vm in @(Get-VM)) {
        foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) {
            if ($null -ne $drive -and [string]$drive.Path -eq $vhdPath) { [void]$users.Add(("'{0}' ({1})" -f [string]$vm.Name, $vm.Id.ToString())) }
        }
    }
    if ($users.Count -gt 0) {
        throw ("cannot delete '{0}': it is attached to VM {1}; detach it first" -f $vhdPath, [string]::Join(', ', [string[]]$users.ToArray([string])))
    }
    Invoke-HvCmdlet 'Remove-Item' $what { Remove-Item -LiteralPath $vhdPath -Force }
    Write-HvResult @{}
    throw 'hvprov: the script ended without writing a result'
} catch {
    Write-HvError $_
}
