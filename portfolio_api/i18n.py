"""Every user-visible string of the web UI, in Russian (default) and English.

``t(key, lang)`` looks a key up; a missing translation falls back to Russian,
then to the key itself (tests check that every key has both languages).
"""

from __future__ import annotations

LANGS = ("ru", "en")
DEFAULT_LANG = "ru"

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"ru": "eduledger — портфолио достижений", "en": "eduledger — achievement portfolio"},
    "nav.portfolio": {"ru": "Портфолио", "en": "Portfolio"},
    "nav.upload": {"ru": "Загрузить диплом", "en": "Upload a diploma"},
    "nav.shares": {"ru": "Ссылки", "en": "Share links"},
    "nav.verify": {"ru": "Проверить", "en": "Verify"},
    "nav.staff": {"ru": "Выданные", "en": "Issued"},
    "nav.issue": {"ru": "Выдать", "en": "Issue"},
    "nav.batch": {"ru": "Пакетная выдача", "en": "Batch issue"},
    "nav.requests": {"ru": "Заявки", "en": "Requests"},
    "nav.audit": {"ru": "Журнал", "en": "Audit log"},
    "nav.inst_admin": {"ru": "Сотрудники и токены", "en": "Staff and tokens"},
    "nav.net_admin": {"ru": "Организации сети", "en": "Network institutions"},
    "nav.login": {"ru": "Войти", "en": "Sign in"},
    "nav.logout": {"ru": "Выйти", "en": "Sign out"},
    "nav.register": {"ru": "Регистрация", "en": "Register"},
    "nav.account": {"ru": "Аккаунт", "en": "Account"},
    # the top menu: a "Menu" button on a phone, the less used links under "More" (issue 18)
    "nav.menu": {"ru": "Меню", "en": "Menu"},
    "nav.more": {"ru": "Ещё", "en": "More"},
    "home.lead": {
        "ru": "Единая защищённая от подделки запись учебных достижений: олимпиады, конкурсы, конференции, аттестаты, повышение квалификации.",
        "en": "One tamper-evident record of learning achievements: olympiads, contests, conferences, school certificates, professional development.",
    },
    "home.verify": {"ru": "Проверить документ или ссылку — без регистрации", "en": "Verify a document or a link — no account needed"},
    "home.for_holders": {
        "ru": "Ученикам и учителям: все достижения в одном портфолио и ссылка на них для приёмной комиссии.",
        "en": "Pupils and teachers: every achievement in one portfolio, and a link to it for an admissions office.",
    },
    "home.for_issuers": {
        "ru": "Школам, организаторам олимпиад и институтам повышения квалификации: документы, которые нельзя подделать, — по одному или списком из Excel.",
        "en": "Schools, olympiad organisers and teacher-training institutes: credentials no one can forge, one by one or as a list from Excel.",
    },
    "home.for_admissions": {
        "ru": "Приёмным комиссиям: проверка ссылок и файлов абитуриентов за один клик, без звонков и запросов.",
        "en": "Admissions offices: check applicants' links and files in one click, with no calls or letters.",
    },
    "f.email": {"ru": "Эл. почта", "en": "E-mail"},
    "f.password": {"ru": "Пароль", "en": "Password"},
    "f.name": {"ru": "Фамилия, имя, отчество", "en": "Full name"},
    "f.role": {"ru": "Я", "en": "I am"},
    "f.kind": {"ru": "Вид", "en": "Kind"},
    "f.title": {"ru": "Название", "en": "Title"},
    "f.description": {"ru": "Описание", "en": "Description"},
    "f.date": {"ru": "Дата", "en": "Date"},
    "f.issuer": {"ru": "Выдавшая организация", "en": "Issuing institution"},
    "f.file": {"ru": "Файл (PDF, JPEG или PNG)", "en": "File (PDF, JPEG or PNG)"},
    "f.ask": {"ru": "Попросить организацию подтвердить", "en": "Ask the institution to confirm"},
    "f.holder_email": {"ru": "Эл. почта получателя", "en": "Holder's e-mail"},
    "f.template": {"ru": "Шаблон", "en": "Template"},
    "f.none": {"ru": "— без шаблона —", "en": "— no template —"},
    "f.reason": {"ru": "Причина", "en": "Reason"},
    "f.label": {"ru": "Для кого", "en": "For whom"},
    "f.days": {"ru": "Срок действия, дней", "en": "Valid for, days"},
    "f.items": {"ru": "Что показать", "en": "What to show"},
    "f.all_public": {"ru": "Всё публичное портфолио", "en": "The whole public portfolio"},
    "f.csv": {"ru": "CSV-файл: email,kind,title,date[,description]", "en": "CSV file: email,kind,title,date[,description]"},
    "f.links": {"ru": "Ссылки (по одной в строке)", "en": "Links (one per line)"},
    "f.verify_holder_email": {"ru": "E-mail владельца (необязательно)", "en": "The holder's e-mail (optional)"},
    "h.holder_email_hint": {
        "ru": "Если указать e-mail абитуриента, проверка скажет, выдан ли документ именно ему. Сам адрес в документе не хранится.",
        "en": "Give the applicant's e-mail to check the credential was issued to them. The address itself is not stored in the credential.",
    },
    "f.bundles": {"ru": "Файлы (bundle JSON или PDF)", "en": "Files (bundle JSON or PDF)"},
    "f.institution_id": {"ru": "Идентификатор", "en": "Identifier"},
    "f.institution_type": {"ru": "Тип", "en": "Type"},
    "role.student": {"ru": "Ученик / студент", "en": "Student"},
    "role.teacher": {"ru": "Учитель", "en": "Teacher"},
    "role.staff": {"ru": "Сотрудник организации", "en": "Institution staff"},
    "role.inst_admin": {"ru": "Администратор организации", "en": "Institution administrator"},
    "role.net_admin": {"ru": "Администратор сети", "en": "Network administrator"},
    "kind.olympiad": {"ru": "Олимпиада", "en": "Olympiad"},
    "kind.contest": {"ru": "Конкурс", "en": "Contest"},
    "kind.conference": {"ru": "Конференция", "en": "Conference"},
    "kind.school-certificate": {"ru": "Школьный аттестат / грамота", "en": "School certificate"},
    "kind.diploma": {"ru": "Диплом", "en": "Diploma"},
    "kind.professional-development": {"ru": "Повышение квалификации", "en": "Professional development"},
    "status.verified": {"ru": "Подтверждено в реестре", "en": "Verified on the ledger"},
    "status.awaiting": {"ru": "Ожидает подтверждения", "en": "Awaiting confirmation"},
    "status.self_reported": {"ru": "Со слов владельца", "en": "Self-reported"},
    "status.rejected": {"ru": "Отклонено организацией", "en": "Rejected by the institution"},
    "status.revoked": {"ru": "Отозвано", "en": "Revoked"},
    "status.superseded": {"ru": "Заменено исправленным", "en": "Superseded"},
    "status.failed": {"ru": "Проверка не пройдена", "en": "Verification failed"},
    "status.pending": {"ru": "На рассмотрении", "en": "Pending"},
    "status.confirmed": {"ru": "Подтверждено", "en": "Confirmed"},
    "status.active": {"ru": "Действует", "en": "Active"},
    "status.expired": {"ru": "Истекла", "en": "Expired"},
    "btn.login": {"ru": "Войти", "en": "Sign in"},
    "btn.register": {"ru": "Зарегистрироваться", "en": "Register"},
    "btn.upload": {"ru": "Загрузить", "en": "Upload"},
    "btn.issue": {"ru": "Выдать и записать в реестр", "en": "Issue and anchor on the ledger"},
    "btn.confirm": {"ru": "Подтвердить", "en": "Confirm"},
    "btn.reject": {"ru": "Отклонить", "en": "Reject"},
    "btn.revoke": {"ru": "Отозвать", "en": "Revoke"},
    "btn.supersede": {"ru": "Заменить исправленным", "en": "Supersede"},
    "btn.share": {"ru": "Создать ссылку", "en": "Create link"},
    "btn.verify": {"ru": "Проверить", "en": "Verify"},
    "btn.download_csv": {"ru": "Проверить и скачать CSV", "en": "Verify and download CSV"},
    "btn.make_public": {"ru": "Сделать публичным", "en": "Make public"},
    "btn.make_private": {"ru": "Скрыть", "en": "Make private"},
    "btn.ask": {"ru": "Запросить подтверждение", "en": "Ask for confirmation"},
    "btn.bundle": {"ru": "Скачать bundle", "en": "Download bundle"},
    "btn.pdf": {"ru": "Скачать PDF", "en": "Download PDF"},
    "btn.delete_account": {"ru": "Удалить аккаунт и все мои данные", "en": "Delete my account and all my data"},
    "btn.add": {"ru": "Добавить", "en": "Add"},
    "btn.create_token": {"ru": "Создать токен", "en": "Create token"},
    "btn.onboard": {"ru": "Подключить организацию", "en": "Onboard institution"},
    "btn.suspend": {"ru": "Приостановить", "en": "Suspend"},
    "btn.view": {"ru": "Открыть", "en": "Open"},
    "btn.copy": {"ru": "Копировать", "en": "Copy"},
    "h.login": {"ru": "Вход", "en": "Sign in"},
    "h.register": {"ru": "Регистрация", "en": "Register"},
    "h.portfolio": {"ru": "Моё портфолио", "en": "My portfolio"},
    "h.upload": {"ru": "Загрузить диплом, полученный на бумаге или файлом", "en": "Upload a diploma received on paper or as a file"},
    "h.uploads": {"ru": "Мои загруженные документы и заявки", "en": "My uploads and requests"},
    "h.shares": {"ru": "Ссылки для просмотра", "en": "Share links"},
    "h.new_share": {"ru": "Новая ссылка", "en": "New link"},
    "h.accesses": {"ru": "Кто открывал", "en": "Who opened it"},
    "h.shared": {"ru": "Портфолио", "en": "Portfolio"},
    "h.trajectory": {"ru": "Траектория по годам", "en": "Trajectory over time"},
    "h.verify": {"ru": "Проверка документа", "en": "Verify a document"},
    "h.verify_drop": {"ru": "Перетащите сюда bundle (JSON) или PDF диплома", "en": "Drop a bundle (JSON) or a diploma PDF here"},
    "h.bulk": {"ru": "Проверка многих абитуриентов", "en": "Verify many applicants"},
    "h.issued": {"ru": "Выданные организацией", "en": "Issued by the institution"},
    "h.issue": {"ru": "Выдать документ", "en": "Issue a credential"},
    "h.batch": {"ru": "Пакетная выдача из CSV", "en": "Batch issuance from CSV"},
    # batch issuance from CSV (portfolio_api/services/batches.py: row and file codes)
    "batch.help": {
        "ru": "Сохраните таблицу в Excel как «CSV UTF-8» или «CSV (разделители — точки с запятой)»: по строке на документ, в первой строке — названия столбцов. "
              "Дата — ДД.ММ.ГГГГ или ГГГГ-ММ-ДД, не позже сегодняшней. Сначала нажмите «Только проверить»: если хоть в одной строке ошибка, не выдаётся ничего.",
        "en": "Save the sheet in Excel as “CSV UTF-8” or “CSV (semicolon delimited)”: one row per credential, the column names in the first row. "
              "Dates as dd.mm.yyyy or yyyy-mm-dd, not later than today. Press “Check only” first: if any row has a problem, nothing is issued.",
    },
    "batch.file": {"ru": "CSV-файл из Excel", "en": "CSV file from Excel"},
    "batch.template": {"ru": "Скачать шаблон для Excel", "en": "Download a template for Excel"},
    "batch.columns": {"ru": "Столбцы", "en": "Columns"},
    "batch.column_names": {"ru": "Как назвать в первой строке", "en": "Names for the first row"},
    "batch.optional": {"ru": "необязательно", "en": "optional"},
    "batch.kinds": {"ru": "Виды документов: пишите название или код", "en": "Kinds: write the name or the identifier"},
    "batch.kind_code": {"ru": "Код", "en": "Identifier"},
    "batch.history": {"ru": "Загруженные пакеты", "en": "Uploaded batches"},
    "batch.check_ok": {
        "ru": "Все строки ({total}) в порядке. Ничего ещё не выдано: выберите файл снова и нажмите «Проверить и выдать».",
        "en": "All {total} rows are correct. Nothing has been issued yet: choose the file again and press “Check and issue”.",
    },
    "batch.check_bad": {
        "ru": "Ничего не выдано: ошибки в {bad} из {total} строк. Исправьте их и проверьте файл снова.",
        "en": "Nothing was issued: {bad} of {total} rows have problems. Fix them and check the file again.",
    },
    "batch.status.running": {"ru": "выполняется", "en": "running"},
    "batch.status.done": {"ru": "готово", "en": "done"},
    "btn.batch_check": {"ru": "Только проверить", "en": "Check only"},
    "btn.batch_issue": {"ru": "Проверить и выдать", "en": "Check and issue"},
    "batch.row.ok": {"ru": "в порядке", "en": "ok"},
    "batch.row.issued": {"ru": "выдано, запись реестра № {index}", "en": "issued, ledger index {index}"},
    "batch.row.failed": {"ru": "не выдано: {message}", "en": "not issued: {message}"},
    "batch.row.columns": {
        "ru": "нужно 4 или 5 столбцов (эл. почта, вид, название, дата[, описание]), а в строке {got}",
        "en": "expected 4 or 5 columns (e-mail, kind, title, date[, description]), got {got}",
    },
    "batch.row.no-column": {"ru": "в столбце {column} есть значение, но у столбца нет названия в первой строке",
                            "en": "column {column} has a value but no name in the first row"},
    "batch.row.email-empty": {"ru": "не указана эл. почта", "en": "the e-mail address is empty"},
    "batch.row.email-invalid": {"ru": "«{value}» — не адрес эл. почты", "en": "“{value}” is not an e-mail address"},
    "batch.row.kind-unknown": {"ru": "неизвестный вид «{value}»; допустимые виды: {kinds}", "en": "unknown kind “{value}”; kinds: {kinds}"},
    "batch.row.title-length": {"ru": "название должно быть от 2 до 300 символов", "en": "the title must be 2 to 300 characters"},
    "batch.row.date-empty": {"ru": "не указана дата", "en": "the date is empty"},
    "batch.row.date-format": {"ru": "«{value}» — не дата: пишите ДД.ММ.ГГГГ (21.11.2026) или ГГГГ-ММ-ДД",
                              "en": "“{value}” is not a date: write dd.mm.yyyy (21.11.2026) or yyyy-mm-dd"},
    "batch.row.date-future": {"ru": "дата {value} ещё не наступила: документ выдают за уже состоявшееся достижение",
                              "en": "the date {value} is in the future: a credential records an achievement that has happened"},
    "batch.row.description-length": {"ru": "описание длиннее 2000 символов", "en": "the description is longer than 2000 characters"},
    "batch.row.duplicate": {"ru": "повторяет строку {other}: тот же человек, вид, название и дата",
                            "en": "repeats row {other}: same person, kind, title and date"},
    "batch.row.no-holder": {"ru": "нет ученика или учителя с эл. почтой {email}: сначала он должен зарегистрироваться",
                            "en": "no student or teacher with e-mail {email}: they must register first"},
    "batch.file.refused": {
        "ru": "Ничего не выдано: ошибки в {bad} из {total} строк. Исправьте их и загрузите файл снова.",
        "en": "Nothing was issued: {bad} of {total} rows have problems. Fix them and upload the file again.",
    },
    "batch.file.too-large": {"ru": "Файл больше {limit_kb} КБ: разделите его на несколько.", "en": "The file is larger than {limit_kb} KB: split it into several."},
    "batch.file.too-many-rows": {"ru": "В одном файле не больше {limit} строк: разделите его на несколько.",
                                 "en": "A file holds at most {limit} rows: split it into several."},
    "batch.file.empty": {"ru": "В файле нет строк.", "en": "The file has no rows."},
    "batch.file.xlsx": {"ru": "Это книга Excel, а не CSV: в Excel выберите «Сохранить как» → «CSV UTF-8» или «CSV (разделители — точки с запятой)».",
                        "en": "This is an Excel workbook, not CSV: in Excel choose Save As → “CSV UTF-8” or “CSV (semicolon delimited)”."},
    "batch.file.utf16": {"ru": "Файл сохранён как «Текст Юникод» (UTF-16): сохраните его как «CSV UTF-8» или «CSV (разделители — точки с запятой)».",
                         "en": "The file is UTF-16 (“Unicode text”): save it as “CSV UTF-8” or “CSV (semicolon delimited)”."},
    "batch.file.binary": {"ru": "Это не текстовый файл: загрузите CSV в кодировке UTF-8 или Windows-1251.",
                          "en": "This is not a text file: upload a CSV file in UTF-8 or Windows-1251."},
    "batch.file.unreadable": {"ru": "Файл не читается как CSV (строка {line}): {detail}", "en": "The file does not read as CSV (row {line}): {detail}"},
    "batch.file.header-unknown": {"ru": "Неизвестный столбец «{column}» в первой строке; допустимые: {columns}.",
                                  "en": "Unknown column “{column}” in the first row; columns: {columns}."},
    "batch.file.header-duplicate": {"ru": "Столбец «{column}» назван в первой строке дважды.", "en": "Column “{column}” appears twice in the first row."},
    "batch.file.header-missing": {"ru": "В первой строке нет столбцов: {columns}.", "en": "The first row has no column for {columns}."},
    "h.requests": {"ru": "Заявки на подтверждение", "en": "Confirmation requests"},
    "h.audit": {"ru": "Журнал действий сотрудников", "en": "Staff action log"},
    "h.inst_admin": {"ru": "Сотрудники и API-токены", "en": "Staff and API tokens"},
    "h.staff": {"ru": "Сотрудники", "en": "Staff"},
    "h.tokens": {"ru": "API-токены", "en": "API tokens"},
    "h.net_admin": {"ru": "Организации сети", "en": "Network institutions"},
    "h.onboard": {"ru": "Подключить организацию", "en": "Onboard an institution"},
    "h.error": {"ru": "Ошибка", "en": "Error"},
    "h.account": {"ru": "Аккаунт", "en": "Account"},
    "h.credential": {"ru": "Документ в реестре", "en": "Credential on the ledger"},
    # the page a diploma's QR code opens, /q/<digest>/<secret> (routers/web_qr.py, templates/qr_facts.html)
    "qr.title": {"ru": "Проверка документа по QR-коду", "en": "A credential checked by its QR code"},
    "qr.facts": {"ru": "Подтверждённые сведения", "en": "Verified facts"},
    "qr.compare": {
        "ru": "Подтверждено только то, что написано здесь. Сверьте с бумажным документом: ФИО, достижение, место и дата должны совпадать.",
        "en": "Only what is written here is confirmed. Compare it with the paper: the name, achievement, place and date must match.",
    },
    "qr.no_secret": {
        "ru": "В ссылке нет секретного ключа из QR-кода документа (или он неверен): показан только статус в реестре, без персональных данных. Отсканируйте QR-код на документе.",
        "en": "This link lacks the secret from the document's QR code (or has a wrong one): only the ledger status is shown, no personal data. Scan the QR code on the document.",
    },
    "qr.no_facts": {
        "ru": "Сведения о документе на этом узле недоступны (данные удалены владельцем или документ ещё не записан в реестр): показан только статус в реестре.",
        "en": "This node cannot show the credential's facts (its holder erased them, or it is not on the ledger yet): only the ledger status is shown.",
    },
    "fact.holder": {"ru": "Кому выдан", "en": "Holder"},
    "fact.achievement": {"ru": "Достижение", "en": "Achievement"},
    "fact.place": {"ru": "Место / результат", "en": "Place / result"},
    "fact.stage": {"ru": "Этап", "en": "Stage"},
    "fact.hours": {"ru": "Объём, часов", "en": "Hours"},
    "fact.date": {"ru": "Дата", "en": "Date"},
    "fact.issuer": {"ru": "Выдала организация", "en": "Issued by"},
    "place.1": {"ru": "1 место", "en": "1st place"},
    "place.2": {"ru": "2 место", "en": "2nd place"},
    "place.3": {"ru": "3 место", "en": "3rd place"},
    "place.winner": {"ru": "победитель", "en": "winner"},
    "place.prize-winner": {"ru": "призёр", "en": "prize-winner"},
    "place.participant": {"ru": "участник", "en": "participant"},
    "stage.school": {"ru": "школьный этап", "en": "school stage"},
    "stage.municipal": {"ru": "муниципальный этап", "en": "municipal stage"},
    "stage.regional": {"ru": "региональный этап", "en": "regional stage"},
    "stage.final": {"ru": "заключительный этап", "en": "final stage"},
    "stage.international": {"ru": "международный этап", "en": "international stage"},
    "stage.other": {"ru": "другой этап", "en": "other stage"},
    "t.empty": {"ru": "Пока ничего нет.", "en": "Nothing here yet."},
    "t.reasons": {"ru": "Основания", "en": "Reasons"},
    "t.status": {"ru": "Статус", "en": "Status"},
    "t.holder": {"ru": "Владелец", "en": "Holder"},
    "t.when": {"ru": "Когда", "en": "When"},
    "t.who": {"ru": "Кто", "en": "Who"},
    "t.action": {"ru": "Действие", "en": "Action"},
    "t.link": {"ru": "Ссылка", "en": "Link"},
    "t.expires": {"ru": "Действует до", "en": "Expires"},
    "t.progress": {"ru": "Выполнено", "en": "Progress"},
    "t.row": {"ru": "Строка", "en": "Row"},
    "t.result": {"ru": "Результат", "en": "Result"},
    "t.result_ok": {"ru": "Проверка пройдена", "en": "Verification passed"},
    "t.result_fail": {"ru": "Проверка НЕ пройдена", "en": "Verification FAILED"},
    "t.suspended": {"ru": "приостановлена", "en": "suspended"},
    "t.suspended_on_ledger": {"ru": "Приостановлена в реестре (решение кворума)", "en": "Suspended on the ledger (quorum decision)"},
    "t.suspension_proposed": {"ru": "Приостановка предложена в реестре, одобрений", "en": "Suspension proposed on the ledger, approvals"},
    "t.keys_ended": {"ru": "Ключ отозван в реестре", "en": "Key revoked on the ledger"},
    "t.public": {"ru": "публично", "en": "public"},
    "t.private": {"ru": "скрыто", "en": "private"},
    "t.anonymous": {"ru": "без входа", "en": "not signed in"},
    "t.browser": {"ru": "Браузер", "en": "Browser"},
    "viewer.anonymous": {"ru": "без входа", "en": "anonymous"},
    "viewer.signed_in": {"ru": "пользователь, вошедший в систему", "en": "a signed-in user"},
    "viewer.institution": {"ru": "сотрудник организации", "en": "staff of"},
    "viewer.bulk": {"ru": "пакетная проверка", "en": "bulk verification"},
    "viewer.privacy": {
        "ru": "Имя открывшего показывается, только если он сам разрешил это для этой ссылки; IP-адреса не сохраняются.",
        "en": "A viewer's name is shown only if they allowed it for this link; IP addresses are not kept.",
    },
    "viewer.you_unnamed": {
        "ru": "Владелец ссылки видит, что её открыл вошедший пользователь, но не видит, кто именно.",
        "en": "The owner of this link sees that a signed-in user opened it, not who.",
    },
    "viewer.you_named": {"ru": "Владелец ссылки видит ваше имя.", "en": "The owner of this link sees your name."},
    # the shared page: the holder check and the CLR 2.0 download (routers/web_verify.py, services/clr_export.py)
    "f.share_holder_email": {"ru": "E-mail абитуриента", "en": "The applicant's e-mail"},
    "btn.check_holder": {"ru": "Проверить, кому выданы документы", "en": "Check who the credentials were issued to"},
    "h.share_holder_hint": {
        "ru": "Для каждого документа будет видно, выдан ли он человеку с этим e-mail. Сам адрес в документах не хранится и здесь не сохраняется.",
        "en": "Each credential then shows whether it was issued to the person with this e-mail. The address is not stored in the credentials, nor kept here.",
    },
    "t.holder_check": {"ru": "Выдан этому e-mail?", "en": "Issued to this e-mail?"},
    "holder.match": {"ru": "да, выдан человеку с этим e-mail", "en": "yes: issued to the person with this e-mail"},
    "holder.mismatch": {"ru": "нет: в документе указан другой e-mail", "en": "no: the credential names another e-mail"},
    "holder.none": {"ru": "в документе нет e-mail — сверьте имя", "en": "no e-mail identifier in this credential: compare the name"},
    "err.holder_email_invalid": {"ru": "Это не адрес эл. почты: напишите его в виде name@domain.ru.", "en": "That is not an e-mail address: write it as name@domain.org."},
    "share.clr_download": {"ru": "Скачать проверенные документы одним файлом (CLR 2.0)", "en": "Download the verified credentials as one file (CLR 2.0)"},
    "share.clr_hint": {
        "ru": "Стандартный файл 1EdTech Comprehensive Learner Record 2.0: каждый документ — в том виде, в каком его выдали, с подписью выдавшей организации; "
              "весь файл подписан организацией этого узла. Его проверит любая программа для W3C Verifiable Credentials.",
        "en": "A standard 1EdTech Comprehensive Learner Record 2.0 file: each credential as it was issued, with its issuer's signature; "
              "the whole file signed by this node's institution. Any W3C Verifiable Credentials software can check it.",
    },
    "btn.show_my_name": {"ru": "Показать владельцу моё имя", "en": "Show the owner my name"},
    "btn.hide_my_name": {"ru": "Скрыть моё имя", "en": "Hide my name"},
    "t.token_once": {"ru": "Сохраните токен: он показан один раз", "en": "Save the token: it is shown only once"},
    "t.delete_warning": {
        "ru": "Будут удалены ваши документы и личные данные. Записи в реестре (только хеши) останутся.",
        "en": "Your documents and personal data will be erased. Ledger records (digests only) remain.",
    },
    "t.demo_logins": {"ru": "Демо-входы", "en": "Demo logins"},
    "msg.uploaded": {"ru": "Документ загружен.", "en": "Document uploaded."},
    "msg.issued": {"ru": "Документ выдан и записан в реестр.", "en": "Credential issued and anchored on the ledger."},
    "msg.confirmed": {"ru": "Подтверждено: документ выдан и записан в реестр.", "en": "Confirmed: credential issued and anchored."},
    "msg.rejected": {"ru": "Заявка отклонена.", "en": "Request rejected."},
    "msg.revoked": {"ru": "Документ отозван.", "en": "Credential revoked."},
    "msg.superseded": {"ru": "Документ заменён исправленным.", "en": "Credential superseded."},
    "msg.shared": {"ru": "Ссылка создана.", "en": "Link created."},
    "msg.share_revoked": {"ru": "Ссылка отозвана.", "en": "Link revoked."},
    "msg.saved": {"ru": "Сохранено.", "en": "Saved."},
    "msg.deleted": {"ru": "Аккаунт и данные удалены.", "en": "Account and data erased."},
    "msg.asked": {"ru": "Запрос отправлен организации.", "en": "Request sent to the institution."},
    # issue 18: irreversible actions ask first; share links say what they show; forms keep what was typed
    "revocation.issued-in-error": {"ru": "Выдан по ошибке", "en": "Issued in error"},
    "revocation.fraud": {"ru": "Получен обманом (подлог, нарушение правил)", "en": "Fraud (obtained dishonestly)"},
    "revocation.withdrawn": {"ru": "Результат аннулирован организацией", "en": "Result withdrawn by the institution"},
    "revocation.superseded": {"ru": "Заменён другим документом", "en": "Replaced by another credential"},
    "revocation.key-compromise": {"ru": "Ключ подписи организации скомпрометирован", "en": "The institution's signing key was compromised"},
    "revocation.other": {"ru": "Другая причина", "en": "Other reason"},
    "btn.cancel": {"ru": "Отмена", "en": "Cancel"},
    "btn.change": {"ru": "Изменить", "en": "Change"},
    "btn.revoke_ask": {"ru": "Отозвать…", "en": "Revoke…"},
    "btn.supersede_ask": {"ru": "Заменить исправленным…", "en": "Supersede…"},
    "btn.revoke_confirm": {"ru": "Отозвать навсегда", "en": "Revoke for good"},
    "btn.supersede_confirm": {"ru": "Выдать исправленный и заменить", "en": "Issue the corrected one and supersede"},
    "btn.delete_account_ask": {"ru": "Удалить аккаунт…", "en": "Delete my account…"},
    "btn.share_revoke_confirm": {"ru": "Отозвать ссылку навсегда", "en": "Revoke the link for good"},
    "confirm.cannot_undo": {"ru": "Это нельзя отменить.", "en": "This cannot be undone."},
    "confirm.not_valid": {
        "ru": "Этот документ сейчас не действует (см. статус): отозвать или заменить его нельзя.",
        "en": "This credential is not currently valid (see its status): it cannot be revoked or superseded.",
    },
    "h.confirm_revoke": {"ru": "Отозвать документ?", "en": "Revoke this credential?"},
    "confirm.revoke_what": {
        "ru": "Документ будет навсегда помечен в реестре как отозванный. Владелец и каждый, кто его проверяет (по ссылке, PDF или QR-коду), "
              "увидят «Отозвано» и причину. Снова сделать его действующим нельзя: если отзыв окажется ошибкой, придётся выдать новый документ.",
        "en": "The credential will be marked revoked on the ledger for good. Its holder and everyone who checks it (by link, PDF or QR code) "
              "will see \"Revoked\" and the reason. It cannot be made valid again: if revoking turns out to be a mistake, a new credential has to be issued.",
    },
    "f.revoke_reason": {"ru": "Причина отзыва (её увидят владелец и проверяющие)", "en": "Reason for revoking (the holder and verifiers will see it)"},
    "err.reason_required": {
        "ru": "Выберите причину отзыва: без неё документ не отзывается. Ничего не изменено.",
        "en": "Choose a reason for revoking: the credential is not revoked without one. Nothing was changed.",
    },
    "t.issued_at": {"ru": "Выдан", "en": "Issued"},
    "h.confirm_supersede": {"ru": "Заменить документ исправленным?", "en": "Supersede this credential with a corrected one?"},
    "confirm.supersede_what": {
        "ru": "Владельцу будет выдан новый документ с данными ниже, а этот навсегда будет помечен в реестре как заменённый; "
              "при проверке будет видно, чем он заменён. Снова сделать его действующим нельзя.",
        "en": "A new credential with the details below will be issued to the holder, and this one will be marked superseded on the ledger for good; "
              "checking it shows what replaced it. It cannot be made valid again.",
    },
    "h.corrected": {"ru": "Исправленные данные", "en": "Corrected details"},
    "h.confirm_erase": {"ru": "Удалить аккаунт?", "en": "Delete your account?"},
    "confirm.erase_what": {
        "ru": "Будут удалены ваш аккаунт, загруженные файлы и заявки, ссылки для просмотра с журналами открытий, профиль для поиска и подписки. "
              "Документы, выданные вам организациями, больше нельзя будет открыть здесь: в реестре останутся только их хеши, "
              "а скачанные раньше bundle и PDF по-прежнему пройдут проверку.",
        "en": "This deletes your account, your uploaded files and requests, your share links with their access logs, your discoverable profile "
              "and your subscriptions. Credentials issued to you can no longer be opened here: only their digests remain on the ledger, "
              "and bundles and PDFs you downloaded before still verify.",
    },
    "confirm.erase_now": {"ru": "Сейчас в вашем портфолио", "en": "Now in your portfolio"},
    "t.n_credentials": {"ru": "Документы от организаций", "en": "Credentials from institutions"},
    "t.n_uploads": {"ru": "Загруженные вами документы", "en": "Documents you uploaded"},
    "t.n_shares": {"ru": "Ссылки для просмотра", "en": "Share links"},
    "confirm.erase_password": {"ru": "Введите пароль, чтобы подтвердить удаление.", "en": "Enter your password to confirm."},
    "err.password_required": {"ru": "Введите пароль: без него аккаунт не удаляется.", "en": "Enter your password: the account is not deleted without it."},
    "h.confirm_share_revoke": {"ru": "Отозвать ссылку?", "en": "Revoke this link?"},
    "confirm.share_revoke_what": {
        "ru": "Ссылка и её QR-код сразу перестанут открываться у всех, кому вы их дали: они увидят, что ссылка отозвана. "
              "Включить её снова нельзя; чтобы поделиться опять, создайте новую ссылку. Журнал открытий останется у вас.",
        "en": "The link and its QR code stop working at once for everyone you gave them to: they will see that the link was revoked. "
              "It cannot be turned back on; to share again, create a new link. Its access log stays with you.",
    },
    "confirm.share_not_active": {"ru": "Эта ссылка уже не действует.", "en": "This link is no longer active."},
    "t.created": {"ru": "Создана", "en": "Created"},
    "f.scope_selected": {"ru": "Только то, что я отмечу ниже", "en": "Only the items I tick below"},
    "f.scope_all": {
        "ru": "Всё публичное портфолио — включая то, что я добавлю или сделаю публичным позже",
        "en": "My whole public portfolio — including items I add or make public later",
    },
    "err.share_nothing_ticked": {
        "ru": "Отметьте хотя бы один пункт — или явно выберите «Всё публичное портфолио». Ссылка не создана.",
        "en": "Tick at least one item, or choose \"My whole public portfolio\" explicitly. No link was created.",
    },
    "h.confirm_share": {"ru": "Проверьте, что покажет ссылка", "en": "Check what the link will show"},
    "confirm.share_selected": {
        "ru": "Ссылка покажет только эти пункты — и ничего из того, что вы добавите позже:",
        "en": "The link will show only these items — nothing you add later:",
    },
    "confirm.share_all": {
        "ru": "Ссылка покажет всё ваше публичное портфолио на момент открытия: и то, что вы добавите или сделаете публичным позже; "
              "скрытое не показывается. Сейчас это:",
        "en": "The link will show your whole public portfolio as it is when opened: items you add or make public later too; "
              "hidden items are not shown. Right now that is:",
    },
    "confirm.share_private_shown": {"ru": "скрыто в портфолио, но по этой ссылке будет видно", "en": "hidden in your portfolio, but shown by this link"},
    "confirm.share_anyone": {
        "ru": "Любой, у кого будет ссылка или QR-код, сможет открыть её без входа — до этой даты или пока вы её не отзовёте.",
        "en": "Anyone who has the link or its QR code can open it without signing in — until this date or until you revoke it.",
    },
    "t.days": {"ru": "дн.", "en": "days"},
    "err.future_date": {
        "ru": "Дата {day} ещё не наступила (сегодня {today} по часам сервера): документ не может быть выдан в будущем. Проверьте год.",
        "en": "The date {day} is in the future (today is {today} on the server): a document cannot be dated in the future. Check the year.",
    },
    "t.file_again": {
        "ru": "Выберите файл ещё раз: после ошибки браузер его не сохраняет. Остальные поля оставлены, как вы их заполнили.",
        "en": "Choose the file again: the browser does not keep it after an error. The other fields are as you filled them in.",
    },
    # --- opportunities (issue 7) ---
    "nav.opportunities": {"ru": "Возможности", "en": "Opportunities"},
    "nav.subscriptions": {"ru": "Подписки", "en": "Subscriptions"},
    "nav.discover": {"ru": "Поиск талантов", "en": "Find talent"},
    "nav.applicants": {"ru": "Абитуриенты", "en": "Applicants"},
    "nav.profile": {"ru": "Профиль для поиска", "en": "Discoverable profile"},
    "nav.consents": {"ru": "Доступ организаций", "en": "Institution access"},
    "h.opportunities": {"ru": "Олимпиады, конкурсы и мероприятия", "en": "Olympiads, contests and events"},
    "h.new_announcement": {"ru": "Новое объявление", "en": "New announcement"},
    "h.subscriptions": {"ru": "Мои подписки", "en": "My subscriptions"},
    "h.notices": {"ru": "Уведомления", "en": "Notifications"},
    "h.path": {"ru": "От объявления к результату", "en": "From announcement to result"},
    "h.profile": {"ru": "Профиль для поиска организациями", "en": "Profile discoverable by institutions"},
    "h.discover": {"ru": "Поиск по подтверждённым достижениям", "en": "Search by verified achievements"},
    "h.consents": {"ru": "Организации, которые следят за портфолио", "en": "Institutions following my portfolio"},
    "h.applicants": {"ru": "Абитуриенты, давшие согласие", "en": "Applicants who consented"},
    # the consents page: institutions a pupil lets follow her verified record (issue 18: not "issuing institution")
    "f.follower": {"ru": "Организация, которой я разрешаю следить за моими подтверждёнными достижениями", "en": "Institution I allow to follow my verified achievements"},
    "consents.lead": {
        "ru": "Организация, которой вы разрешили следить за портфолио (например, вуз, куда вы поступаете), видит ваши публичные достижения, "
              "подтверждённые в реестре, — и новые, как только их выдадут. Загруженное вами без подтверждения она не видит. "
              "Разрешение можно отозвать в любой момент: после этого организация не видит ничего.",
        "en": "An institution you allow to follow your portfolio (say, a university you apply to) sees your public achievements verified on the ledger, "
              "and new ones as soon as they are issued. It does not see what you uploaded without confirmation. "
              "You can withdraw at any time: the institution then sees nothing at all.",
    },
    "consents.institution": {"ru": "Организация", "en": "Institution"},
    "consents.how": {"ru": "Как получила доступ", "en": "How it got access"},
    "consents.since": {"ru": "С какого времени", "en": "Since"},
    # the applicants page: where a university's admissions staff land after sign-in (issue 18)
    "applicants.lead": {
        "ru": "Здесь абитуриенты, которые дали вашей организации согласие: прислали ссылку на портфолио или разрешили следить за ним. "
              "Видны только их достижения, подтверждённые в реестре, — и новые, как только их выдадут.",
        "en": "Here are the applicants who consented to your institution: they sent you a portfolio link or allowed you to follow them. "
              "You see only their achievements verified on the ledger, and new ones as soon as they are issued.",
    },
    "applicants.follow_hint": {
        "ru": "Вставьте ссылку, которую прислал абитуриент, — он появится в списке ниже. Откройте саму ссылку, чтобы увидеть проверку каждого документа.",
        "en": "Paste the link an applicant sent you and they appear in the list below. Open the link itself to see each item checked.",
    },
    "applicants.verify": {"ru": "Проверить PDF или файл документа", "en": "Verify a PDF or a credential file"},
    "applicants.discover": {"ru": "Найти школьников по подтверждённым достижениям", "en": "Find pupils by their verified achievements"},
    "h.unsubscribe": {"ru": "Отписка от рассылки", "en": "Unsubscribe"},
    "f.subject": {"ru": "Предмет", "en": "Subject"},
    "f.level": {"ru": "Уровень", "en": "Level"},
    "f.region": {"ru": "Регион", "en": "Region"},
    "f.audience": {"ru": "Для кого", "en": "Audience"},
    "f.any": {"ru": "— любой —", "en": "— any —"},
    "f.starts_on": {"ru": "Начало", "en": "Starts"},
    "f.ends_on": {"ru": "Окончание", "en": "Ends"},
    "f.grades": {"ru": "Классы (с — по)", "en": "Grades (from — to)"},
    "f.registration_url": {"ru": "Ссылка на регистрацию", "en": "Registration link"},
    "f.email_notices": {"ru": "Присылать на эл. почту", "en": "Send by e-mail"},
    "f.discoverable": {"ru": "Разрешить организациям находить мой профиль", "en": "Let institutions find my profile"},
    "f.headline": {"ru": "О себе (одна строка)", "en": "About me (one line)"},
    "f.query": {"ru": "Предмет, уровень, результат, программа", "en": "Subject, level, result, programme"},
    "f.share_link": {"ru": "Ссылка на портфолио от абитуриента", "en": "Portfolio link from the applicant"},
    "f.credential_id": {"ru": "Идентификатор выданного документа", "en": "Issued credential id"},
    "aud.pupils": {"ru": "Школьники и студенты", "en": "Pupils and students"},
    "aud.teachers": {"ru": "Учителя", "en": "Teachers"},
    "btn.save_profile": {"ru": "Сохранить", "en": "Save"},
    "btn.publish": {"ru": "Опубликовать", "en": "Publish"},
    "btn.subscribe": {"ru": "Подписаться", "en": "Subscribe"},
    "btn.unsubscribe": {"ru": "Отписаться", "en": "Unsubscribe"},
    "btn.search": {"ru": "Найти", "en": "Search"},
    "btn.grant": {"ru": "Разрешить", "en": "Allow"},
    "btn.withdraw": {"ru": "Отозвать согласие", "en": "Withdraw consent"},
    "btn.follow": {"ru": "Следить", "en": "Follow"},
    "btn.link_result": {"ru": "Связать с объявлением", "en": "Link to the announcement"},
    "btn.mark_read": {"ru": "Отметить прочитанными", "en": "Mark as read"},
    "opp.register": {"ru": "Регистрация", "en": "Register"},
    "opp.results": {"ru": "Выдано документов об участии и победе", "en": "Participation and winner credentials issued"},
    "opp.none": {"ru": "Пока ничего нет.", "en": "Nothing yet."},
    "opp.verified_evidence": {"ru": "Подтверждено в реестре", "en": "Verified on the ledger"},
    "opp.self_reported": {"ru": "Со слов владельца (не подтверждено)", "en": "Self-reported (not verified)"},
    "opp.new": {"ru": "новое", "en": "new"},
    "opp.via_share": {"ru": "по ссылке", "en": "by share link"},
    "opp.via_grant": {"ru": "по разрешению", "en": "by permission"},
    "opp.unsubscribed": {"ru": "Вы отписаны: писем по этой подписке больше не будет.", "en": "You are unsubscribed: no more e-mails for this subscription."},
    "opp.unsubscribe_confirm": {"ru": "Больше не присылать письма по этой подписке?", "en": "Stop e-mails for this subscription?"},
    "opp.not_discoverable": {"ru": "Профиль скрыт: организации его не видят.", "en": "Profile hidden: institutions cannot see it."},
    "opp.is_discoverable": {"ru": "Профиль виден организациям в поиске.", "en": "Profile visible to institutions in search."},
    "opp.from_announcement": {"ru": "По объявлению", "en": "From the announcement"},
    "opp.own_words": {"ru": "со слов владельца, не учитывается в поиске", "en": "in the holder's own words, not searched"},
    # discover: the empty result says what was searched and what to try (issue 18)
    "opp.no_match": {"ru": "Ничего не найдено", "en": "Nothing found"},
    "opp.no_match_query": {"ru": "по запросу", "en": "for"},
    "opp.no_match_region": {"ru": "в регионе", "en": "in the region"},
    "opp.no_match_scope": {"ru": "Поиск идёт только по достижениям, подтверждённым в реестре, и только среди тех, кто разрешил организациям находить свой профиль. Форма слова не важна: «физика» найдёт и «по физике».",
                           "en": "Only achievements verified on the ledger are searched, and only of people who let institutions find their profile. Word forms do not matter: «физика» also finds «по физике»."},
    "opp.hint_fewer_words": {"ru": "Уберите одно из слов: профиль находится, только если в нём есть все слова запроса.",
                             "en": "Remove a word: a profile is found only when its evidence has every word of the query."},
    "opp.hint_region": {"ru": "Поищите без региона или проверьте, как он написан: регион должен совпадать полностью.",
                        "en": "Search without the region, or check its spelling: the region must match exactly."},
    "opp.hint_shorter": {"ru": "Напишите начало слова: «олимп» найдёт «олимпиада», «биолог» — «биология».",
                         "en": "Type the beginning of a word: «олимп» finds «олимпиада», «биолог» finds «биология»."},
    "opp.delivery": {"ru": "Рассылка", "en": "E-mail delivery"},
    "opp.mail_sent": {"ru": "отправлено", "en": "sent"},
    "opp.mail_queued": {"ru": "в очереди", "en": "queued"},
    "opp.mail_failed": {"ru": "не доставлено (адрес отклонён)", "en": "not delivered (address refused)"},
    "opp.mail_refused": {"ru": "письмо не доставлено: почтовый сервер отклонил адрес", "en": "e-mail not delivered: the mail server refused the address"},
    # issue 18: the unread counter in the menu; pages that promise an e-mail say when this node has no mail (EDULEDGER_SMTP_HOST)
    "nav.unread": {"ru": "Непрочитанные уведомления", "en": "Unread notifications"},
    "mail_off.notices": {
        "ru": "Эл. почта на этом узле не настроена: письма с уведомлениями не отправляются, а ждут в очереди и уйдут, когда администратор "
              "узла настроит почту. Уведомления на сайте работают: они ниже на этой странице, а число новых видно в меню.",
        "en": "E-mail is not set up on this node: notification e-mails are not sent; they wait in a queue and leave once the node's "
              "administrator sets up mail. Notifications on the site work: they are below on this page, and the menu shows how many are new.",
    },
    "mail_off.staff": {
        "ru": "Эл. почта на этом узле не настроена: подписчики увидят объявление в уведомлениях на сайте, а письма им ждут в очереди "
              "и уйдут, когда администратор узла настроит почту.",
        "en": "E-mail is not set up on this node: subscribers see the announcement among their notifications on the site; the e-mails "
              "to them wait in a queue and leave once the node's administrator sets up mail.",
    },
    "mail_off.register": {
        "ru": "Эл. почта на этом узле не настроена, поэтому письма для подтверждения не будет: после регистрации сразу войдите с этим "
              "адресом и паролем. Уведомления будут видны на сайте.",
        "en": "E-mail is not set up on this node, so there is no confirmation message: after registering, sign in with this address "
              "and your password right away. Notifications are shown on the site.",
    },
    "msg.published": {"ru": "Объявление опубликовано, подписчики уведомлены.", "en": "Announcement published; subscribers notified."},
    "msg.subscribed": {"ru": "Подписка оформлена.", "en": "Subscribed."},
    "msg.unsubscribed": {"ru": "Подписка отменена.", "en": "Subscription cancelled."},
    "msg.withdrawn": {"ru": "Согласие отозвано.", "en": "Consent withdrawn."},
    "err.csrf": {"ru": "Форма устарела: обновите страницу и отправьте ещё раз.", "en": "The form has expired: reload the page and submit again."},
    "err.login_required": {"ru": "Войдите, чтобы продолжить.", "en": "Sign in to continue."},
    "err.forbidden": {"ru": "У вас нет доступа к этой странице.", "en": "You do not have access to this page."},
    "err.share_gone": {"ru": "Ссылка недействительна", "en": "This link is no longer valid"},
    # issue 16: e-mailed one-time sign-in links, registration that reveals no accounts
    "login.link": {"ru": "Войти по ссылке из письма", "en": "Sign in with an e-mailed link"},
    "h.login_link": {"ru": "Вход по ссылке из письма", "en": "Sign in with an e-mailed link"},
    "login_link.lead": {
        "ru": "Укажите адрес эл. почты вашего аккаунта — мы пришлём одноразовую ссылку для входа без пароля. Она действует 15 минут.",
        "en": "Enter your account's e-mail address and we will send you a one-time link to sign in without a password. It is valid for 15 minutes.",
    },
    "login_link.no_mail": {
        "ru": "Этот узел не отправляет эл. почту, поэтому прислать ссылку для входа нельзя. Войдите с паролем; "
              "если вы его забыли, обратитесь к сотрудникам своей школы или организации либо к администратору узла.",
        "en": "This node sends no e-mail, so it cannot send you a sign-in link. Sign in with your password; "
              "if you forgot it, ask the staff of your school or institution, or the node's administrator.",
    },
    "btn.send_link": {"ru": "Прислать ссылку", "en": "Send me a link"},
    "h.check_mail": {"ru": "Проверьте почту", "en": "Check your mail"},
    "mail_sent.link": {
        "ru": "Если с этим адресом есть аккаунт, мы отправили на него ссылку для входа. Она действует 15 минут и срабатывает один раз. "
              "Письма нет — проверьте папку «Спам»; на один адрес уходит не больше 3 писем за 15 минут.",
        "en": "If this address has an account, we sent it a sign-in link. It is valid for 15 minutes and works once. "
              "No message? Look in your spam folder; one address gets at most 3 messages in 15 minutes.",
    },
    "mail_sent.register": {
        "ru": "Мы отправили письмо на этот адрес. Откройте ссылку из него, чтобы завершить регистрацию (ссылка действует 1 час). "
              "Если аккаунт с этим адресом уже есть, письмо скажет об этом и предложит войти. "
              "Письма нет — проверьте папку «Спам»; на один адрес уходит не больше 3 писем за 15 минут.",
        "en": "We sent a message to this address. Open the link in it to finish registering (the link is valid for 1 hour). "
              "If the address already has an account, the message says so and offers a way to sign in. "
              "No message? Look in your spam folder; one address gets at most 3 messages in 15 minutes.",
    },
    "msg.registered": {
        "ru": "Регистрация принята. Если этот адрес ещё не был зарегистрирован, аккаунт создан: войдите с этим адресом и паролем. "
              "Если аккаунт с этим адресом уже был, он не изменился: войдите с его паролем; если вы его забыли, обратитесь к сотрудникам "
              "своей школы или организации либо к администратору узла (этот узел не отправляет эл. почту).",
        "en": "Registration received. If this address was not registered yet, your account is ready: sign in with this address and your password. "
              "If the address already had an account, it is unchanged: sign in with its password; if you forgot it, ask the staff of your "
              "school or institution, or the node's administrator (this node sends no e-mail).",
    },
    "h.link_login": {"ru": "Вход по ссылке", "en": "Sign in by link"},
    "link.login_lead": {"ru": "Нажмите кнопку, чтобы войти. Ссылка срабатывает один раз.", "en": "Press the button to sign in. The link works once."},
    "h.link_register": {"ru": "Завершение регистрации", "en": "Finish registration"},
    "link.register_lead": {"ru": "Нажмите кнопку, чтобы создать аккаунт и войти.", "en": "Press the button to create your account and sign in."},
    "btn.finish_register": {"ru": "Завершить регистрацию", "en": "Finish registration"},
    "err.link_invalid": {
        "ru": "Ссылка недействительна, устарела или уже использована: запросите новую.",
        "en": "This link is invalid, expired or already used: ask for a new one.",
    },
    "nav.network": {"ru": "Сеть", "en": "Network"},
    "alert.fork.title": {"ru": "Обнаружено раздвоение реестра.", "en": "Ledger fork detected."},
    "alert.fork.text": {
        "ru": "Ключ реестра подписал два несовместимых состояния. Этот узел перестал подтверждать контрольные точки; до решения организаций сети результатам проверки доверять нельзя.",
        "en": "The log key signed two incompatible states of the ledger. This node has stopped cosigning checkpoints; do not rely on verification results until the network's institutions resolve it.",
    },
    "alert.storage.title": {"ru": "База данных узла изменена в обход реестра.", "en": "This node's database was altered behind its back."},
    "alert.storage.text": {
        "ru": "Сохранённые записи больше не совпадают с проверенным реестром. Узел не отдаёт данные реестра и не подтверждает контрольные точки, пока администратор его не восстановит.",
        "en": "Stored entries no longer match the verified ledger. The node serves no ledger data and cosigns nothing until an operator restores it.",
    },
    "alert.sequencer.title": {"ru": "Узел-секвенсор остановил запись.", "en": "The sequencer stopped writing."},
    "alert.sequencer.text": {
        "ru": "Свидетель другой организации подтвердил больше записей, чем есть в журнале этого узла, или видел другое состояние реестра. Узел ничего не подписывает и не принимает новых записей, пока администратор не восстановит журнал с реплики.",
        "en": "Another institution's witness has cosigned more of the log than this node holds, or saw another state of it. The node signs nothing and accepts no new entries until an operator restores its log from a replica.",
    },
    "alert.details": {"ru": "Подробности и доказательства", "en": "Details and evidence"},
    "h.network": {"ru": "Сеть организаций", "en": "Institution network"},
    "net.alerts": {"ru": "Тревоги", "en": "Alerts"},
    "net.no_alert": {"ru": "Раздвоений реестра и изменений базы данных не обнаружено.", "en": "No ledger fork and no database tampering detected."},
    "net.reason": {"ru": "Причина", "en": "Reason"},
    "net.detected_at": {"ru": "обнаружено", "en": "detected"},
    "net.evidence_old": {"ru": "Доказательство: первая подписанная контрольная точка", "en": "Evidence: the first signed checkpoint"},
    "net.evidence_new": {"ru": "Доказательство: вторая подписанная контрольная точка", "en": "Evidence: the second signed checkpoint"},
    "net.proof": {"ru": "Доказательство согласованности (корень на меньшем размере, затем хеши)", "en": "Consistency proof (root at the smaller size, then the hashes)"},
    "net.pending": {"ru": "Ещё не доказано, что эти контрольные точки — одно дерево (повтор каждые полсекунды)", "en": "Not yet proved to be one tree (retried every half second)"},
    "net.log": {"ru": "Реестр", "en": "Ledger"},
    "net.name": {"ru": "Сеть", "en": "Network"},
    "net.size": {"ru": "Записей", "en": "Entries"},
    "net.sequencer": {"ru": "Секвенсор", "en": "Sequencer"},
    "net.this_node": {"ru": "этот узел", "en": "this node"},
    "net.quorum": {"ru": "Кворум подписей", "en": "Cosigning quorum"},
    "net.final": {"ru": "Последняя окончательная контрольная точка", "en": "Latest final checkpoint"},
    "net.no_final": {"ru": "Окончательной контрольной точки ещё нет: не хватает подписей свидетелей.", "en": "No final checkpoint yet: not enough witness cosignatures."},
    "net.cosigners": {"ru": "Подписали (свидетели)", "en": "Cosigned by (witnesses)"},
    "net.peers": {"ru": "Узлы организаций", "en": "Institution nodes"},
    "net.institution": {"ru": "Организация", "en": "Institution"},
    "net.state": {"ru": "Состояние", "en": "State"},
    "net.no_peers": {"ru": "Узел работает один.", "en": "This node runs alone."},
    # the network page in plain words; the raw checkpoint and signatures behind a "details" fold (issue 18)
    "net.what_title": {"ru": "Что такое сеть", "en": "What the network is"},
    "net.what": {
        "ru": "Школы, вузы, организаторы олимпиад и институты повышения квалификации вместе ведут общий реестр достижений. "
              "Когда организация выдаёт документ, в реестр записывается только его «отпечаток» (хеш) — без имён и других личных данных. "
              "Запись нельзя ни удалить, ни тихо изменить: это сразу заметят другие организации сети.",
        "en": "Schools, universities, olympiad organisers and teacher-training institutes keep one shared ledger of achievements. "
              "When an institution issues a credential, only its fingerprint (a hash) goes into the ledger, with no names or other personal data. "
              "An entry can be neither deleted nor quietly changed: the network's other institutions would notice at once.",
    },
    "net.final_what": {
        "ru": "«Окончательно» (подписано свидетелями) значит: другие организации сети, выступая свидетелями, проверили это состояние реестра "
              "и подписали его — не меньше, чем требует кворум. Такие записи уже нельзя незаметно переписать: для этого пришлось бы сговориться самим свидетелям.",
        "en": "“Final” (cosigned) means other institutions of the network, acting as witnesses, have checked this state of the ledger and signed it, "
              "at least as many as the quorum asks. Such entries can no longer be rewritten unnoticed: the witnesses themselves would have to conspire.",
    },
    "net.alerts_what": {
        "ru": "Если кто-то покажет разным людям разные версии реестра или изменит базу данных этого узла в обход реестра, здесь появится тревога с доказательствами.",
        "en": "If anyone shows different people different versions of the ledger, or alters this node's database behind the ledger's back, an alert with the evidence appears here.",
    },
    "net.final_entries": {"ru": "Окончательных записей в реестре", "en": "Final entries on the ledger"},
    "net.quorum_hint": {
        "ru": "столько свидетелей должны подписать состояние реестра, чтобы оно стало окончательным",
        "en": "this many witnesses must sign a state of the ledger for it to become final",
    },
    "net.root": {"ru": "Корень дерева Меркла", "en": "Merkle tree root"},
    "net.sequencer_hint": {"ru": "узел, который принимает новые записи и расставляет их по порядку", "en": "the node that accepts new entries and puts them in order"},
    "net.details": {"ru": "Подробности для специалистов: корень дерева, подписи, текст контрольной точки",
                    "en": "Technical details: the tree root, the signatures, the checkpoint text"},
    "net.evidence": {"ru": "Доказательства для специалистов", "en": "Evidence for specialists"},
}


def t(key: str, lang: str = DEFAULT_LANG) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry.get(DEFAULT_LANG) or key


# Verification reasons are produced in English by the services (they also go into CSV reports);
# pages show them in the reader's language through these patterns.
import re as _re

REASONS: tuple[tuple[str, dict[str, str]], ...] = (
    (r"credential data matches the digest anchored on the ledger", {"ru": "данные документа совпадают с хешем, записанным в реестре"}),
    (r"credential data does NOT match its digest", {"ru": "данные документа НЕ совпадают с его хешем"}),
    (r"anchored at ledger index (\d+) by (.+)", {"ru": r"записано в реестр под номером \1 организацией \2"}),
    (r"not yet anchored on the ledger", {"ru": "ещё не записано в реестр"}),
    (r"revoked by the issuer \(reason: (.+)\)", {"ru": r"отозвано выдавшей организацией (причина: \1)"}),
    (r"revoked at ledger index (\d+) \(reason: (.+)\)", {"ru": r"отозвано, запись реестра № \1 (причина: \2)"}),
    (r"superseded by a corrected credential", {"ru": "заменено исправленным документом"}),
    (r"superseded by (\w+) at ledger index (\d+)", {"ru": r"заменено документом \1, запись реестра № \2"}),
    (r"uploaded by the holder; not confirmed by the issuer", {"ru": "загружено владельцем; организация не подтверждала"}),
    (r"the issuer has been asked to confirm it", {"ru": "организации отправлен запрос на подтверждение"}),
    (r"the issuer rejected it: (.+)", {"ru": r"организация отклонила: \1"}),
    (r"this digest is not anchored on the ledger", {"ru": "этого хеша нет в реестре"}),
    (r"the credential's digest is not on the ledger: the document was altered or never issued",
     {"ru": "хеша документа нет в реестре: документ изменён или никогда не выдавался (altered or never issued)"}),
    (r"the credential's data was erased", {"ru": "данные документа удалены владельцем"}),
    (r"the ledger refused to anchor it: (.+)", {"ru": r"реестр отказался записать документ: \1"}),
    (r"the issuing institution is currently suspended.*", {"ru": "работа выдавшей организации приостановлена (выданные ранее документы остаются в реестре)"}),
    (r"holder: issued to the person with this e-mail address", {"ru": "владелец: документ выдан человеку с этим e-mail"}),
    (r"holder: issued to someone else: the credential names another e-mail address",
     {"ru": "владелец: документ выдан другому человеку — в нём указан другой e-mail"}),
    (r"holder: the credential names no e-mail address \(issued before holders were identified\): compare the name, (.+)",
     {"ru": r"владелец: в документе нет e-mail (выдан до того, как владельцев стали указывать так): сверьте имя — \1"}),
    (r"proof: the issuer's Data Integrity proof \(eddsa-rdfc-2022\) verifies with its key valid at the issue time",
     {"ru": "подпись: электронная подпись организации (W3C Data Integrity, eddsa-rdfc-2022) верна, ключ действовал на дату выдачи"}),
    (r"proof: the credential carries no Data Integrity proof \(issued before proofs\): its ledger anchor is its proof",
     {"ru": "подпись: у документа нет отдельной электронной подписи (выдан раньше); его подтверждает запись в реестре"}),
    (r"proof: the Data Integrity proof does not verify: (.+)", {"ru": r"подпись: электронная подпись документа неверна: \1"}),
    (r"step 1 \(well-formed\): the file is not a well-formed credential bundle: (.+)",
     {"ru": r"шаг 1 (формат): файл не является корректным пакетом документа (credential bundle): \1"}),
)


def reason(text: str, lang: str = DEFAULT_LANG) -> str:
    """A verification reason in ``lang`` (English text is the source)."""
    if lang == "en":
        return text
    for pattern, tr in REASONS:
        m = _re.fullmatch(pattern, text)
        if m and lang in tr:
            return m.expand(tr[lang])
    return text
