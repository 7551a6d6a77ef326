# hvprov-template: facts/host.ps1.j2
# hvprov-params: {"probe_paths":["C:\\VMs\\web01.vhd","D:\\Hyper-V\\Base\\w2k8r2-base.vhd"]}
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

function Get-HvDismPath {
    return (Join-Path $env:SystemRoot 'System32\dism.exe')
}

function Get-HvDismFeatures {
    $dism = Get-HvDismPath
    $run = Invoke-HvProcess $dism @('/Online', '/English', '/Get-Features', '/Format:Table')
    if ($run['exit_code'] -ne 0) {
        $run = Invoke-HvProcess $dism @('/Online', '/Get-Features', '/Format:Table')
    }
    if ($run['exit_code'] -ne 0) {
        throw ('dism.exe /Get-Features failed with exit code ' + $run['exit_code'] + ': ' + (Get-HvDismMessage $run['output']))
    }
    $states = New-Object System.Collections.Hashtable
    foreach ($line in $run['output']) {
        if ($line -match '^\s*([A-Za-z0-9][^\s|]*)\s*\|\s*(\S.*?)\s*$') { $states[$matches[1]] = $matches[2] }
    }
    return $states
}

function Get-HvDismMessage($lines) {
    $text = New-Object System.Collections.ArrayList
    foreach ($line in @($lines)) {
        if ($null -ne $line -and ([string]$line).Trim().Length -gt 0) { [void]$text.Add(([string]$line).Trim()) }
    }
    $start = [Math]::Max(0, $text.Count - 4)
    return [string]::Join(' ', [string[]]$text.GetRange($start, $text.Count - $start).ToArray([string]))
}

function ConvertTo-HvBool($value) {
    if ($null -eq $value) { return $null }
    return [bool]$value
}

function ConvertTo-HvMb($bytes) {
    if ($null -eq $bytes) { return $null }
    return [int64][Math]::Floor([double]$bytes / 1048576)
}

function Get-HvRegValue([string]$path, [string]$name) {
    $key = Get-Item -LiteralPath $path -ErrorAction SilentlyContinue
    if ($null -eq $key) { return $null }
    return $key.GetValue($name)
}

function Get-HvText($value) {
    $text = [string]$value
    if ($text.Trim().Length -eq 0) { return $null }
    return $text
}

function Find-HvAdapter($adapters, [string]$description, [string]$mac) {
    foreach ($adapter in $adapters) {
        if ($description.Length -gt 0 -and $adapter['description'] -eq $description) { return $adapter }
    }
    foreach ($adapter in $adapters) {
        if ($mac.Length -gt 0 -and $adapter['mac'] -eq $mac) { return $adapter }
    }
    return $null
}

function New-HvUnreadable([hashtable]$known, $err) {
    # One object that could not be read: reported on that object, the facts script goes on.
    $text = [string]$err
    if ($null -ne $err -and $null -ne $err.Exception) { $text = [string]$err.Exception.Message }
    $known['error'] = $text.Trim()
    return $known
}

function Get-HvVhdFile([string]$path) {
    # Without the Hyper-V services: read the VHD footer (big-endian: current size at 48,
    # disk type at 60) or recognise a VHDX signature; otherwise report the file length.
    $info = @{ 'path' = $path; 'size' = [int64]0; 'type' = 'unknown'; 'format' = 'vhd'; 'parent' = $null }
    if ($path -match '\.vhdx$') { $info['format'] = 'vhdx' }
    $stream = New-Object System.IO.FileStream -ArgumentList $path, ([IO.FileMode]::Open), ([IO.FileAccess]::Read), ([IO.FileShare]::ReadWrite)
    try {
        $info['size'] = [int64]$stream.Length
        $buffer = New-Object byte[] 512
        if ($stream.Length -ge 512) {
            [void]$stream.Read($buffer, 0, 8)
            if ([Text.Encoding]::ASCII.GetString($buffer, 0, 8) -eq 'vhdxfile') { $info['format'] = 'vhdx' }
            [void]$stream.Seek(-512, [IO.SeekOrigin]::End)
            [void]$stream.Read($buffer, 0, 512)
            if ([Text.Encoding]::ASCII.GetString($buffer, 0, 8) -eq 'conectix') {
                $size = [int64]0
                for ($i = 48; $i -lt 56; $i++) { $size = $size * 256 + $buffer[$i] }
                $info['size'] = $size
                $info['format'] = 'vhd'
                $kind = [int]$buffer[63]
                if ($kind -eq 2) { $info['type'] = 'fixed' }
                elseif ($kind -eq 3) { $info['type'] = 'dynamic' }
                elseif ($kind -eq 4) { $info['type'] = 'differencing' }
            }
        }
    } finally {
        $stream.Close()
    }
    return $info
}

function Get-HvVhdV1($ims, [string]$path) {
    $in = $ims.psbase.GetMethodParameters('GetVirtualHardDiskInfo')
    $in['Path'] = $path
    $out = $ims.psbase.InvokeMethod('GetVirtualHardDiskInfo', $in, $null)
    if ([int]$out['ReturnValue'] -ne 0) { throw ('GetVirtualHardDiskInfo returned ' + [string]$out['ReturnValue'] + ' for ' + $path) }
    $xml = [xml][string]$out['Info']
    $props = @{}
    foreach ($node in @($xml.SelectNodes('//PROPERTY'))) {
        $valueNode = $node.SelectSingleNode('VALUE')
        if ($null -ne $valueNode) { $props[$node.GetAttribute('NAME')] = $valueNode.InnerText }
    }
    $kind = 'unknown'
    if ($props['Type'] -eq '2') { $kind = 'fixed' }
    elseif ($props['Type'] -eq '3') { $kind = 'dynamic' }
    elseif ($props['Type'] -eq '4') { $kind = 'differencing' }
    return @{
        'path' = $path
        'size' = [int64]$props['MaxInternalSize']
        'type' = $kind
        'format' = 'vhd'
        'parent' = (Get-HvText $props['ParentPath'])
    }
}

function Get-HvVhdV2([string]$path) {
    $vhd = Get-VHD -Path $path
    return @{
        'path' = $path
        'size' = [int64]$vhd.Size
        'type' = ([string]$vhd.VhdType).ToLower()
        'format' = ([string]$vhd.VhdFormat).ToLower()
        'parent' = (Get-HvText $vhd.ParentPath)
    }
}

try {
    # ---- operating system, CPU, memory ------------------------------------------------------
    $os = Get-WmiObject -Class Win32_OperatingSystem
    $cs = Get-WmiObject -Class Win32_ComputerSystem
    $cpus = @(Get-WmiObject -Class Win32_Processor)
    $versionParts = ([string]$os.Version).Split('.')
    $osMajor = [int]$versionParts[0]
    $osMinor = [int]$versionParts[1]
    $backendV1 = ($osMajor -lt 6) -or ($osMajor -eq 6 -and $osMinor -lt 2)
    $lastBoot = [Management.ManagementDateTimeConverter]::ToDateTime($os.LastBootUpTime)
    $sku = [int](Get-HvProp $os 'OperatingSystemSKU')
    $installationType = Get-HvText (Get-HvRegValue 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' 'InstallationType')
    if ($null -ne $installationType) {
        $serverCore = @('Server Core', 'Nano Server') -contains $installationType
    } else {
        # 6.0/6.1: the *_SERVER_CORE SKUs (domain brief 1.4); Hyper-V Server (42) is core-like.
        $serverCore = @(12, 13, 14, 29, 39, 40, 41, 42, 43, 44, 45, 46, 53, 63) -contains $sku
    }
    $osFacts = @{
        'caption' = [string]$os.Caption
        'version' = [string]$os.Version
        'build' = [int]$os.BuildNumber
        'sku' = $sku
        'sp_major' = [int]$os.ServicePackMajorVersion
        'product_type' = [int]$os.ProductType
        'os_architecture' = [string](Get-HvProp $os 'OSArchitecture')
        'installation_type' = $installationType
        'last_boot' = $lastBoot
        'ps_version' = ([string]$PSVersionTable.PSVersion.Major + '.' + [string]$PSVersionTable.PSVersion.Minor)
    }

    $cpu0 = $null
    if ($cpus.Count -gt 0) { $cpu0 = $cpus[0] }
    $cores = 0
    $logical = 0
    foreach ($cpu in $cpus) {
        $n = Get-HvProp $cpu 'NumberOfCores'
        if ($null -ne $n) { $cores += [int]$n } else { $cores += 1 }
        $n = Get-HvProp $cpu 'NumberOfLogicalProcessors'
        if ($null -ne $n) { $logical += [int]$n } else { $logical += 1 }
    }
    # VMMonitorModeExtensions, VirtualizationFirmwareEnabled, SecondLevelAddressTranslationExtensions
    # exist from 6.2 on; before that Windows cannot tell (null).
    $cpuFacts = @{
        'architecture' = [int](Get-HvProp $cpu0 'Architecture')
        'address_width' = [int](Get-HvProp $cpu0 'AddressWidth')
        'manufacturer' = [string](Get-HvProp $cpu0 'Manufacturer')
        'name' = ([string](Get-HvProp $cpu0 'Name')).Trim()
        'cores' = $cores
        'logical' = $logical
        'vmx' = (ConvertTo-HvBool (Get-HvProp $cpu0 'VMMonitorModeExtensions'))
        'vt_firmware' = (ConvertTo-HvBool (Get-HvProp $cpu0 'VirtualizationFirmwareEnabled'))
        'slat' = (ConvertTo-HvBool (Get-HvProp $cpu0 'SecondLevelAddressTranslationExtensions'))
    }
    $depFacts = @{
        'available' = [bool]$os.DataExecutionPrevention_Available
        'policy' = [int]$os.DataExecutionPrevention_SupportPolicy
    }

    # ---- pending reboot (PendingFileRenameOperations is a VALUE, not a key) ------------------
    $fileRename = $false
    foreach ($entry in @(Get-HvRegValue 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' 'PendingFileRenameOperations')) {
        if ($null -ne $entry -and ([string]$entry).Length -gt 0) { $fileRename = $true }
    }
    $activeName = Get-HvRegValue 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName' 'ComputerName'
    $pendingName = Get-HvRegValue 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName' 'ComputerName'
    $pendingFacts = @{
        'cbs' = (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending')
        'windows_update' = (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired')
        'file_rename' = $fileRename
        'computer_rename' = (($null -ne $activeName) -and ($null -ne $pendingName) -and ([string]$activeName -ne [string]$pendingName))
    }

    # ---- roles and features: ServerManager (Import-Module is mandatory on 2.0), else DISM -----
    $featureTool = 'none'
    $installed = New-Object System.Collections.ArrayList
    $hypervAvailable = $null
    $serverManager = $false
    if (@(Get-Module -ListAvailable -Name ServerManager).Count -gt 0) {
        try {
            Import-Module ServerManager
            $serverManager = $true
        } catch {
            $serverManager = $false
        }
    }
    if ($serverManager) {
        $featureTool = 'servermanager'
        $hypervAvailable = $false
        foreach ($feature in @(Get-WindowsFeature)) {
            if ([string]$feature.Name -eq 'Hyper-V') { $hypervAvailable = $true }
            if ($feature.Installed -or [string](Get-HvProp $feature 'InstallState') -eq 'InstallPending') {
                [void]$installed.Add([string]$feature.Name)
            }
        }
    } elseif (Test-Path -LiteralPath (Get-HvDismPath)) {
        $featureTool = 'dism'
        $dismStates = Get-HvDismFeatures
        $hypervAvailable = $dismStates.ContainsKey('Microsoft-Hyper-V')
        foreach ($name in @($dismStates.Keys | Sort-Object)) {
            $state = [string]$dismStates[$name]
            if ($state -eq 'Enabled' -or $state -eq 'Enable Pending') { [void]$installed.Add([string]$name) }
        }
    }
    $featureFacts = @{ 'tool' = $featureTool; 'installed' = $installed; 'hyperv_available' = $hypervAvailable }

    # ---- hypervisor ---------------------------------------------------------------------------
    $vmms = $null
    $service = Get-WmiObject -Class Win32_Service -Filter "Name='vmms'"
    if ($null -ne $service) { $vmms = [string]$service.State }
    $hvboot = $null
    $driver = Get-WmiObject -Class Win32_SystemDriver -Filter "Name='hvboot'"
    if ($null -ne $driver) { $hvboot = [string]$driver.State }
    $launchType = $null
    try {
        $bcd = Invoke-HvProcess (Join-Path $env:SystemRoot 'System32\bcdedit.exe') @('/enum', '{current}')
        if ($bcd['exit_code'] -eq 0) {
            foreach ($line in $bcd['output']) {
                if ($line -match '^\s*hypervisorlaunchtype\s+(\S+)') { $launchType = $matches[1] }
            }
        }
    } catch {
        $launchType = $null
    }
    $launchError = $null
    try {
        $sinceBoot = [int64][Math]::Ceiling(((Get-Date) - $lastBoot).TotalMilliseconds)
        $xpath = '*[System[Provider[@Name=''Microsoft-Windows-Hyper-V-Hypervisor''] and (Level=1 or Level=2) and TimeCreated[timediff(@SystemTime) <= ' + $sinceBoot + ']]]'
        $events = @(Get-WinEvent -LogName System -FilterXPath $xpath -MaxEvents 1 -ErrorAction SilentlyContinue)
        if ($events.Count -gt 0 -and $null -ne $events[0]) {
            $launchError = Get-HvText $events[0].Message
            if ($null -eq $launchError) { $launchError = 'Event ID ' + [string]$events[0].Id }
            $launchError = $launchError.Trim()
        }
    } catch {
        $launchError = $null
    }
    # 6.2+: the Hyper-V module (Hyper-V-PowerShell) may be missing while the role is there.
    $hypervModule = $null
    if (-not $backendV1) { $hypervModule = (@(Get-Module -ListAvailable -Name Hyper-V).Count -gt 0) }
    $hypervisorFacts = @{
        'module' = $hypervModule
        'present' = (ConvertTo-HvBool (Get-HvProp $cs 'HypervisorPresent'))
        'vmms' = $vmms
        'hvboot' = $hvboot
        'launch_type' = $launchType
        'launch_error' = $launchError
    }

    # ---- network adapters (management = holds a default gateway) --------------------------------
    $configs = @{}
    foreach ($config in @(Get-WmiObject -Class Win32_NetworkAdapterConfiguration)) { $configs[[string]$config.Index] = $config }
    $adapters = New-Object System.Collections.ArrayList
    foreach ($nic in @(Get-WmiObject -Class Win32_NetworkAdapter)) {
        $connection = [string]$nic.NetConnectionID
        if ($connection.Length -eq 0) { continue }
        $ips = New-Object System.Collections.ArrayList
        $management = $false
        $config = $configs[[string]$nic.Index]
        if ($null -ne $config) {
            foreach ($ip in @($config.IPAddress)) { if ($null -ne $ip) { [void]$ips.Add([string]$ip) } }
            foreach ($gateway in @($config.DefaultIPGateway)) {
                if ($null -ne $gateway -and ([string]$gateway).Length -gt 0) { $management = $true }
            }
        }
        [void]$adapters.Add(@{
            'name' = $connection
            'description' = [string]$nic.Name
            'mac' = ([string]$nic.MACAddress).Replace(':', '').Replace('-', '').ToUpper()
            'ips' = $ips
            'management' = $management
            'bound_switch' = $null
        })
    }

    # ---- Hyper-V inventory (empty unless the role runs) -------------------------------------
    $switches = New-Object System.Collections.ArrayList
    $vms = New-Object System.Collections.ArrayList
    $attached = New-Object System.Collections.ArrayList
    $vhdMode = 'file'
    $imageService = $null
    $hypervRunning = ($vmms -eq 'Running')
    if ($hypervRunning -and $backendV1) {
        $ns = 'root\virtualization'
        if (@(Get-WmiObject -Namespace root -Class __NAMESPACE -Filter "Name='virtualization'").Count -gt 0) {
            $imageService = @(Get-WmiObject -Namespace $ns -Class Msvm_ImageManagementService)[0]
            if ($null -ne $imageService) { $vhdMode = 'wmi' }
            $switchNames = @{}
            foreach ($sw in @(Get-WmiObject -Namespace $ns -Class Msvm_VirtualSwitch)) {
                $hasExternal = $false
                $hasInternal = $false
                $external = $null
                foreach ($port in @($sw.GetRelated('Msvm_SwitchPort'))) {
                    foreach ($endpoint in @($port.GetRelated('Msvm_SwitchLANEndpoint'))) {
                        foreach ($ext in @($endpoint.GetRelated('Msvm_ExternalEthernetPort'))) {
                            $hasExternal = $true
                            $external = $ext
                        }
                        if (@($endpoint.GetRelated('Msvm_InternalEthernetPort')).Count -gt 0) { $hasInternal = $true }
                    }
                }
                $kind = 'private'
                $allow = $false
                $adapterName = $null
                if ($hasExternal) {
                    $kind = 'external'
                    $allow = $hasInternal
                    $adapterName = [string]$external.ElementName
                    $bound = Find-HvAdapter $adapters ([string]$external.ElementName) ([string](Get-HvProp $external 'PermanentAddress'))
                    if ($null -ne $bound) {
                        $adapterName = $bound['name']
                        $bound['bound_switch'] = [string]$sw.ElementName
                    }
                } elseif ($hasInternal) {
                    $kind = 'internal'
                    $allow = $true
                }
                $switchNames[[string]$sw.Name] = [string]$sw.ElementName
                [void]$switches.Add(@{
                    'id' = [string]$sw.Name
                    'name' = [string]$sw.ElementName
                    'type' = $kind
                    'adapter' = $adapterName
                    'allow_management_os' = $allow
                })
            }
            $guid = '^\{?[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\}?$'
            foreach ($vm in @(Get-WmiObject -Namespace $ns -Class Msvm_ComputerSystem)) {
                # VMs: Caption 'Virtual Machine' (English) and a GUID Name; the host has neither.
                if ([string]$vm.Caption -ne 'Virtual Machine' -and [string]$vm.Name -notmatch $guid) { continue }
                try {
                $vssd = $null
                foreach ($setting in @($vm.GetRelated('Msvm_VirtualSystemSettingData'))) {
                    if ([int]$setting.SettingType -eq 3) { $vssd = $setting }
                }
                if ($null -eq $vssd) { continue }
                $memory = @($vssd.GetRelated('Msvm_MemorySettingData'))[0]
                $processor = @($vssd.GetRelated('Msvm_ProcessorSettingData'))[0]
                $dynamic = [bool](Get-HvProp $memory 'DynamicMemoryEnabled')
                $minimum = $null
                $maximum = $null
                if ($dynamic) {
                    $minimum = [int64](Get-HvProp $memory 'Reservation')
                    $maximum = [int64](Get-HvProp $memory 'Limit')
                }
                $enabled = [int]$vm.EnabledState
                $state = 'other'
                if ($enabled -eq 2) { $state = 'running' }
                elseif ($enabled -eq 3) { $state = 'off' }
                elseif ($enabled -eq 32768) { $state = 'paused' }
                elseif ($enabled -eq 32769) { $state = 'saved' }
                $rasds = @($vssd.GetRelated('Msvm_ResourceAllocationSettingData'))
                $scsi = New-Object System.Collections.ArrayList
                foreach ($rasd in $rasds) {
                    if ([int]$rasd.ResourceType -eq 6) { [void]$scsi.Add([string]$rasd.InstanceID) }
                }
                $disks = New-Object System.Collections.ArrayList
                foreach ($rasd in $rasds) {
                    if ([int]$rasd.ResourceType -ne 21 -or [string]$rasd.ResourceSubType -ne 'Microsoft Virtual Hard Disk') { continue }
                    $media = @($rasd.Connection)
                    if ($media.Count -eq 0 -or $null -eq (Get-HvText $media[0])) { continue }
                    $controllerType = 'ide'
                    $controllerNumber = 0
                    $location = 0
                    try {
                        # media -> drive (Address = location) -> controller (5 IDE, 6 SCSI)
                        $drive = [wmi][string]$rasd.Parent
                        $controller = [wmi][string]$drive.Parent
                        if ([int]$controller.ResourceType -eq 6) {
                            $controllerType = 'scsi'
                            $controllerNumber = [Math]::Max(0, $scsi.IndexOf([string]$controller.InstanceID))
                        } elseif ($null -ne (Get-HvText $controller.Address)) {
                            $controllerNumber = [int]$controller.Address
                        }
                        if ($null -ne (Get-HvText $drive.Address)) { $location = [int]$drive.Address }
                    } catch {
                        $location = 0
                    }
                    [void]$attached.Add([string]$media[0])
                    [void]$disks.Add(@{
                        'path' = [string]$media[0]
                        'controller' = $controllerType
                        'controller_number' = $controllerNumber
                        'location' = $location
                    })
                }
                $nics = New-Object System.Collections.ArrayList
                foreach ($class in @('Msvm_SyntheticEthernetPortSettingData', 'Msvm_EmulatedEthernetPortSettingData')) {
                    foreach ($port in @($vssd.GetRelated($class))) {
                        $switchName = $null
                        $target = @($port.Connection)
                        if ($target.Count -gt 0 -and $null -ne (Get-HvText $target[0])) {
                            try {
                                $switchPort = [wmi][string]$target[0]
                                $switchName = $switchNames[[string]$switchPort.SystemName]
                            } catch {
                                $switchName = $null
                            }
                        }
                        $mac = Get-HvText $port.Address
                        if ($mac -eq '000000000000') { $mac = $null }
                        [void]$nics.Add(@{
                            'name' = [string]$port.ElementName
                            'switch' = $switchName
                            'mac' = $mac
                            'static_mac' = [bool](Get-HvProp $port 'StaticMacAddress')
                            'legacy' = ($class -eq 'Msvm_EmulatedEthernetPortSettingData')
                            'vlan' = $null
                        })
                    }
                }
                [void]$vms.Add(@{
                    'id' = [string]$vm.Name
                    'name' = [string]$vm.ElementName
                    'state' = $state
                    'memory_mb' = [int64](Get-HvProp $memory 'VirtualQuantity')
                    'dynamic_memory' = $dynamic
                    'memory_min_mb' = $minimum
                    'memory_max_mb' = $maximum
                    'cpus' = [int](Get-HvProp $processor 'VirtualQuantity')
                    'generation' = 1
                    'notes' = [string](Get-HvProp $vssd 'Notes')
                    'disks' = $disks
                    'nics' = $nics
                })
                } catch {
                    [void]$vms.Add((New-HvUnreadable @{ 'id' = [string]$vm.Name; 'name' = [string]$vm.ElementName; 'state' = 'other' } $_))
                }
            }
        }
    } elseif ($hypervRunning -and @(Get-Module -ListAvailable -Name Hyper-V).Count -gt 0) {
        Import-Module Hyper-V
        $vhdMode = 'cmdlets'
        foreach ($sw in @(Get-VMSwitch)) {
            $kind = ([string]$sw.SwitchType).ToLower()
            $adapterName = $null
            if ($kind -eq 'external') {
                $description = [string](Get-HvProp $sw 'NetAdapterInterfaceDescription')
                $adapterName = Get-HvText $description
                $bound = Find-HvAdapter $adapters $description ''
                if ($null -ne $bound) {
                    $adapterName = $bound['name']
                    $bound['bound_switch'] = [string]$sw.Name
                }
            }
            [void]$switches.Add(@{
                'id' = [string]$sw.Id
                'name' = [string]$sw.Name
                'type' = $kind
                'adapter' = $adapterName
                'allow_management_os' = [bool](Get-HvProp $sw 'AllowManagementOS')
            })
        }
        foreach ($vm in @(Get-VM)) {
            try {
            $state = 'other'
            $vmState = [string]$vm.State
            if ($vmState -eq 'Running') { $state = 'running' }
            elseif ($vmState -eq 'Off') { $state = 'off' }
            elseif ($vmState -eq 'Saved') { $state = 'saved' }
            elseif ($vmState -eq 'Paused') { $state = 'paused' }
            $dynamic = [bool]$vm.DynamicMemoryEnabled
            $minimum = $null
            $maximum = $null
            if ($dynamic) {
                $minimum = ConvertTo-HvMb $vm.MemoryMinimum
                $maximum = ConvertTo-HvMb $vm.MemoryMaximum
            }
            $generation = Get-HvProp $vm 'Generation'
            if ($null -eq $generation) { $generation = 1 }
            $disks = New-Object System.Collections.ArrayList
            foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) {
                $path = Get-HvText $drive.Path
                if ($null -eq $path) { continue }
                [void]$attached.Add($path)
                [void]$disks.Add(@{
                    'path' = $path
                    'controller' = ([string]$drive.ControllerType).ToLower()
                    'controller_number' = [int]$drive.ControllerNumber
                    'location' = [int]$drive.ControllerLocation
                })
            }
            $nics = New-Object System.Collections.ArrayList
            foreach ($nic in @(Get-VMNetworkAdapter -VM $vm)) {
                $vlan = $null
                try {
                    $vlanSetting = Get-VMNetworkAdapterVlan -VMNetworkAdapter $nic
                    if ([string]$vlanSetting.OperationMode -eq 'Access') { $vlan = [int]$vlanSetting.AccessVlanId }
                } catch {
                    $vlan = $null
                }
                $mac = Get-HvText $nic.MacAddress
                if ($mac -eq '000000000000') { $mac = $null }
                [void]$nics.Add(@{
                    'name' = [string]$nic.Name
                    'switch' = (Get-HvText $nic.SwitchName)
                    'mac' = $mac
                    'static_mac' = (-not [bool]$nic.DynamicMacAddressEnabled)
                    'legacy' = [bool]$nic.IsLegacy
                    'vlan' = $vlan
                })
            }
            [void]$vms.Add(@{
                'id' = [string]$vm.Id
                'name' = [string]$vm.Name
                'state' = $state
                'memory_mb' = (ConvertTo-HvMb $vm.MemoryStartup)
                'dynamic_memory' = $dynamic
                'memory_min_mb' = $minimum
                'memory_max_mb' = $maximum
                'cpus' = [int]$vm.ProcessorCount
                'generation' = [int]$generation
                'notes' = [string]$vm.Notes
                'disks' = $disks
                'nics' = $nics
            })
            } catch {
                [void]$vms.Add((New-HvUnreadable @{ 'id' = [string]$vm.Id; 'name' = [string]$vm.Name; 'state' = 'other' } $_))
            }
        }
    }

    # Role present but its inventory unreadable (no Hyper-V module): say so, never "no VMs".
    $unverified = New-Object System.Collections.ArrayList
    if ($hypervRunning -and -not $backendV1 -and -not $hypervModule) { [void]$unverified.Add('inventory') }

    # ---- VHDs: attached to VMs, then the probe paths that exist ---------------------------------
    $vhds = New-Object System.Collections.ArrayList
    $seen = @{}
    $candidates = New-Object System.Collections.ArrayList
    foreach ($path in $attached) { [void]$candidates.Add([string]$path) }
    foreach ($path in @(@('C:\VMs\web01.vhd', 'D:\Hyper-V\Base\w2k8r2-base.vhd'))) { if ($null -ne $path) { [void]$candidates.Add([string]$path) } }
    foreach ($path in $candidates) {
        if ($path.Length -eq 0 -or $seen.ContainsKey($path)) { continue }
        $seen[$path] = $true
        $exists = $false
        try { $exists = Test-Path -LiteralPath $path -PathType Leaf } catch { $exists = $false }
        if (-not $exists) { continue }
        $info = $null
        $failure = $null
        try {
            if ($vhdMode -eq 'cmdlets') { $info = Get-HvVhdV2 $path }
            elseif ($vhdMode -eq 'wmi') { $info = Get-HvVhdV1 $imageService $path }
        } catch {
            $info = $null
            $failure = $_
        }
        if ($null -eq $info) {
            # The Hyper-V services could not read it: the file itself (a disk a running VM
            # holds may refuse even that); never abort the facts for one disk.
            try { $info = Get-HvVhdFile $path } catch { $info = New-HvUnreadable @{ 'path' = $path } $_ }
            if ($null -ne $failure -and -not $info.ContainsKey('error')) { $info = New-HvUnreadable $info $failure }
        }
        [void]$vhds.Add($info)
    }

    Write-HvResult @{
        'hostname' = [string]$env:COMPUTERNAME
        'os' = $osFacts
        'cpu' = $cpuFacts
        'dep' = $depFacts
        'memory_mb' = (ConvertTo-HvMb $cs.TotalPhysicalMemory)
        'server_core' = $serverCore
        'pending_reboot' = $pendingFacts
        'features' = $featureFacts
        'hypervisor' = $hypervisorFacts
        'adapters' = $adapters
        'switches' = $switches
        'vms' = $vms
        'vhds' = $vhds
        'unverified' = $unverified
    }
    throw 'hvprov: the script ended without writing a result'
} catch {
    Write-HvError $_
}
