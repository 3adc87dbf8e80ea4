; The per-user installer of emotion-monitor for Windows x64 (built by scripts/package-windows.sh).
; makensis -INPUTCHARSET UTF8 -DVERSION=0.1.0 -DSRC=<the packed folder> -DOUTFILE=<setup.exe> installer.nsi
;
; Installs into %LOCALAPPDATA%\Programs\emotion-monitor without administrator rights, adds a Start-menu entry and
; an uninstaller (Settings > Apps). Korean or English, from the system's language. /S installs silently.
; Sessions are written to Documents\emotion-monitor\sessions (the shortcut starts the app there): the uninstaller
; removes the program and its settings, never the sessions.

Unicode true
; The 64-bit stub: the default x86 one needs 32-bit Windows support (absent on wine64 alone).
Target amd64-unicode
SetCompressor /SOLID lzma
RequestExecutionLevel user

!include "MUI2.nsh"

!define APP "emotion-monitor"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"

Name "${APP} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP}"
InstallDirRegKey HKCU "Software\${APP}" "InstallDir"

!define MUI_ICON "${NSISDIR}\Contrib\Graphics\Icons\modern-install.ico"
!define MUI_UNICON "${NSISDIR}\Contrib\Graphics\Icons\modern-uninstall.ico"
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP}.exe"
!define MUI_FINISHPAGE_RUN_NOTCHECKED

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "Korean"

LangString ShortcutDesc ${LANG_ENGLISH} "Emotion and engagement timeline of a lecture"
LangString ShortcutDesc ${LANG_KOREAN} "강의 중 감정과 참여도 타임라인"

Function .onInit
  SetShellVarContext current
  !insertmacro MUI_LANGDLL_DISPLAY
FunctionEnd

Function un.onInit
  SetShellVarContext current
  !insertmacro MUI_UNGETLANGUAGE
FunctionEnd

Section "emotion-monitor"
  SetOutPath "$INSTDIR"
  ; A new version replaces the old files; nothing of an older layout is left behind.
  RMDir /r "$INSTDIR\models"
  RMDir /r "$INSTDIR\THIRD_PARTY"
  File /r "${SRC}\*.*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  ; The app writes its sessions into its working folder: Documents\emotion-monitor.
  CreateDirectory "$DOCUMENTS\${APP}"
  SetOutPath "$DOCUMENTS\${APP}"
  CreateShortCut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\${APP}.exe" "" "$INSTDIR\${APP}.exe" 0 SW_SHOWNORMAL "" "$(ShortcutDesc)"
  SetOutPath "$INSTDIR"

  WriteRegStr HKCU "Software\${APP}" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "emotion-monitor"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${APP}.exe"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  Delete "$SMPROGRAMS\${APP}.lnk"
  ; What the installer put there, by name (never a recursive delete of a folder the user may have picked).
  Delete "$INSTDIR\${APP}.exe"
  Delete "$INSTDIR\${APP}-cli.exe"
  Delete "$INSTDIR\onnxruntime.dll"
  Delete "$INSTDIR\DirectML.dll"
  Delete "$INSTDIR\ffmpeg.exe"
  Delete "$INSTDIR\ffprobe.exe"
  RMDir /r "$INSTDIR\models"
  RMDir /r "$INSTDIR\THIRD_PARTY"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  ; The window's settings (eframe's storage); the sessions in Documents\emotion-monitor stay.
  RMDir /r "$APPDATA\${APP}"
  DeleteRegKey HKCU "${UNINST_KEY}"
  DeleteRegKey HKCU "Software\${APP}"
SectionEnd
